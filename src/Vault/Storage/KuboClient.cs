using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace Detach.Vault.Storage;

/// <summary>
/// A client of the Kubo RPC API (<c>POST /api/v0/&lt;cmd&gt;?arg=…</c>), also served by js-ipfs.
/// Every call carries the API's <c>timeout=</c> and a client-side deadline, because a node asked
/// for a block it lacks waits for it forever. Errors become <see cref="KuboNotFoundException"/>,
/// <see cref="KuboUnavailableException"/> or <see cref="KuboException"/>; idempotent calls are
/// retried while the node is unreachable, <c>add</c> and <c>dag/import</c> only when their input
/// can be replayed.
/// </summary>
public sealed class KuboClient
{
    /// <summary>Time the node gets past its own <c>timeout=</c> to report it before we give up on it.</summary>
    private static readonly TimeSpan DeadlineGrace = TimeSpan.FromSeconds(5);
    private const int MaxErrorBodyBytes = 64 * 1024;
    private const string StreamErrorTrailer = "X-Stream-Error";

    private readonly HttpClient _http;
    private readonly KuboOptions _options;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _retry;
    private volatile bool _pinNameRejected;

    public KuboClient(HttpClient http, IOptions<KuboOptions> options, ILogger<KuboClient>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        _http = http;
        _options = options.Value;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        try
        {
            // Deadlines are per call (see KuboOptions); HttpClient's 100 s default would cut long uploads.
            _http.Timeout = Timeout.InfiniteTimeSpan;
        }
        catch (InvalidOperationException)
        {
            // Already used by someone else: its own timeout stays.
        }
        _retry = _options.MaxRetries <= 0
            ? ResiliencePipeline.Empty
            : new ResiliencePipelineBuilder().AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<KuboUnavailableException>(),
                MaxRetryAttempts = _options.MaxRetries,
                Delay = _options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                OnRetry = args =>
                {
                    _logger.LogWarning("IPFS node unavailable ({Error}); retry {Attempt} in {Delay}",
                        args.Outcome.Exception?.Message, args.AttemptNumber + 1, args.RetryDelay);
                    return ValueTask.CompletedTask;
                },
            }).Build();
    }

    public KuboOptions Options => _options;

    /// <summary>
    /// Adds and pins <paramref name="content"/> as one file (CIDv1, raw leaves, 256 KiB chunks),
    /// streaming it as it is read. Retried after a connection failure only when the stream can seek.
    /// </summary>
    public Task<KuboAddResult> AddAsync(Stream content, string? pinName, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (!content.CanSeek)
        {
            return AddOnceAsync(content, pinName, ct);
        }
        var start = content.Position;
        return _retry.ExecuteAsync(async token =>
        {
            content.Position = start;
            return await AddOnceAsync(content, pinName, token).ConfigureAwait(false);
        }, ct).AsTask();
    }

    private async Task<KuboAddResult> AddOnceAsync(Stream content, string? pinName, CancellationToken ct)
    {
        var start = content.CanSeek ? content.Position : -1;
        var sendPinName = pinName is not null && _options.SendPinName && !_pinNameRejected;
        try
        {
            return await AddRequestAsync(content, sendPinName ? pinName : null, ct).ConfigureAwait(false);
        }
        catch (PinNameRejectedException e) when (e.NothingSent || start >= 0)
        {
            // A node that refuses the option rather than ignoring it: go on without names.
            _pinNameRejected = true;
            _logger.LogWarning("The IPFS node rejects add's pin-name option; adding without pin names");
            if (start >= 0)
            {
                content.Position = start;
            }
            return await AddRequestAsync(content, null, ct).ConfigureAwait(false);
        }
        catch (PinNameRejectedException e)
        {
            _pinNameRejected = true;
            throw (KuboException)e.InnerException!;
        }
    }

    private async Task<KuboAddResult> AddRequestAsync(Stream content, string? pinName, CancellationToken ct)
    {
        using var watchdog = new UploadWatchdog(_options.RequestTimeout + DeadlineGrace);
        var counter = new CountingReadStream(content, watchdog);
        using var form = new MultipartFormDataContent();
        form.Add(FilePart(new StreamContent(counter, 256 * 1024)));
        var query = new List<(string, string)>
        {
            ("cid-version", "1"), ("raw-leaves", "true"), ("pin", "true"), ("chunker", "size-262144"),
            ("cid-base", "base32"), ("progress", "false"),
        };
        if (pinName is not null)
        {
            query.Add(("pin-name", pinName));
        }
        using var deadline = Deadline(_options.TransferTimeout, ct, watchdog.Token);
        try
        {
            return await AddResponseAsync(query, form, counter, deadline, ct).ConfigureAwait(false);
        }
        catch (KuboException e) when (pinName is not null && e is not KuboUnavailableException
            && e.Message.Contains("pin-name", StringComparison.OrdinalIgnoreCase))
        {
            throw new PinNameRejectedException(counter.BytesRead == 0, e);
        }
    }

    private Task<KuboAddResult> AddResponseAsync(List<(string, string)> query, HttpContent form, CountingReadStream counter,
        CancellationTokenSource deadline, CancellationToken ct) =>
        Guard(async () =>
        {
            using var response = await SendAsync("add", query, form, _options.TransferTimeout, timeoutMeansNotFound: false, deadline.Token).ConfigureAwait(false);
            KuboAddLine? last = null;
            await foreach (var line in ReadLinesAsync<KuboAddLine>(response, deadline.Token).ConfigureAwait(false))
            {
                if (line.Type == "error")
                {
                    throw Classify(line.Message ?? "add failed", 0, null, timeoutMeansNotFound: false);
                }
                if (line.Hash is not null)
                {
                    last = line;
                }
            }
            if (last is null || !Cid.TryParse(last.Hash, out var cid))
            {
                throw new KuboException($"add returned no usable CID ('{last?.Hash}').");
            }
            return new KuboAddResult(cid, counter.BytesRead, last.Size ?? counter.BytesRead);
        }, "add", deadline, ct);

    /// <summary>The node refused <c>pin-name</c>; <see cref="NothingSent"/> says whether the content can be sent again.</summary>
    private sealed class PinNameRejectedException(bool nothingSent, KuboException inner) : Exception(inner.Message, inner)
    {
        public bool NothingSent => nothingSent;
    }

    /// <summary>
    /// Opens the file bytes of <paramref name="cid"/> from <paramref name="offset"/>, at most
    /// <paramref name="length"/> of them. A block the node cannot find within
    /// <see cref="KuboOptions.RequestTimeout"/> fails with <see cref="KuboNotFoundException"/>; a
    /// failure mid-stream is raised by the returned stream.
    /// </summary>
    public async Task<Stream> CatAsync(Cid cid, long offset = 0, long? length = null, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (length is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, "The length cannot be negative.");
        }
        // The cat's own timeout must cover the whole transfer, so a short-deadline probe of the
        // root is what turns an unknown CID into an error quickly.
        await BlockStatAsync(cid, ct).ConfigureAwait(false);
        var query = new List<(string, string)> { ("arg", cid.ToString()) };
        if (offset > 0)
        {
            query.Add(("offset", offset.ToString(CultureInfo.InvariantCulture)));
        }
        if (length is { } l)
        {
            query.Add(("length", l.ToString(CultureInfo.InvariantCulture)));
        }
        return await _retry.ExecuteAsync(async token =>
        {
            var lifetime = new CancellationTokenSource(_options.TransferTimeout + DeadlineGrace);
            try
            {
                using var headers = Deadline(_options.RequestTimeout, token, lifetime.Token);
                var response = await Guard(
                    () => SendAsync("cat", query, null, _options.TransferTimeout, timeoutMeansNotFound: true, headers.Token),
                    "cat", headers, token).ConfigureAwait(false);
                try
                {
                    var body = await response.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
                    return (Stream)new KuboResponseStream(response, body, lifetime, _options.RequestTimeout, e => TrailerError(e, timeoutMeansNotFound: true));
                }
                catch
                {
                    response.Dispose();
                    throw;
                }
            }
            catch
            {
                lifetime.Dispose();
                throw;
            }
        }, ct).ConfigureAwait(false);
    }

    /// <summary>The size of the block <paramref name="cid"/> names; <see cref="KuboNotFoundException"/> when the node cannot find it in time.</summary>
    public Task<KuboBlockStat> BlockStatAsync(Cid cid, CancellationToken ct) =>
        CallJsonAsync<KuboBlockStat>("block/stat", [("arg", cid.ToString())], timeoutMeansNotFound: true, ct);

    /// <summary>The raw bytes of one block (at most <paramref name="maxBytes"/>).</summary>
    public Task<byte[]> BlockGetAsync(Cid cid, CancellationToken ct, int maxBytes = 2 * 1024 * 1024) =>
        _retry.ExecuteAsync(async token =>
        {
            using var deadline = Deadline(_options.RequestTimeout, token);
            return await Guard(async () =>
            {
                using var response = await SendAsync("block/get", [("arg", cid.ToString())], null, _options.RequestTimeout, timeoutMeansNotFound: true, deadline.Token).ConfigureAwait(false);
                await using var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
                using var buffer = new MemoryStream();
                var chunk = new byte[64 * 1024];
                int n;
                while ((n = await body.ReadAsync(chunk, deadline.Token).ConfigureAwait(false)) > 0)
                {
                    if (buffer.Length + n > maxBytes)
                    {
                        throw new KuboException($"Block {cid} is larger than {maxBytes} bytes.");
                    }
                    buffer.Write(chunk, 0, n);
                }
                CheckTrailer(response, timeoutMeansNotFound: true);
                return buffer.ToArray();
            }, "block/get", deadline, token).ConfigureAwait(false);
        }, ct).AsTask();

    /// <summary>The file size of a UnixFS file: a raw leaf's length, or a dag-pb root's <c>filesize</c>.</summary>
    public async Task<long> FileSizeAsync(Cid cid, CancellationToken ct)
    {
        if (cid.Codec == Cid.RawCodec)
        {
            return (await BlockStatAsync(cid, ct).ConfigureAwait(false)).Size;
        }
        var root = await BlockGetAsync(cid, ct).ConfigureAwait(false);
        try
        {
            return DagPbCodec.ReadFileSize(root);
        }
        catch (InvalidDataException e)
        {
            throw new KuboException($"{cid} is not a UnixFS file: {e.Message}", e);
        }
    }

    /// <summary>Pins <paramref name="cid"/> and everything below it (the node must have or find the blocks).</summary>
    public async Task PinAddAsync(Cid cid, CancellationToken ct)
    {
        var body = await CallJsonAsync<KuboPinsBody>("pin/add", [("arg", cid.ToString()), ("recursive", "true")], timeoutMeansNotFound: true, ct).ConfigureAwait(false);
        if (body.Pins is null || !body.Pins.Contains(cid))
        {
            throw new KuboException($"pin/add did not confirm {cid}.");
        }
    }

    /// <summary>Removes the recursive pin of <paramref name="cid"/>; <see cref="KuboNotFoundException"/> when it is not pinned.</summary>
    public Task PinRmAsync(Cid cid, CancellationToken ct) =>
        CallJsonAsync<KuboPinsBody>("pin/rm", [("arg", cid.ToString()), ("recursive", "true")], timeoutMeansNotFound: true, ct);

    /// <summary>Recursive pins: all of them, or only <paramref name="cid"/>'s (empty when it is not pinned).</summary>
    public async Task<IReadOnlyList<KuboPin>> PinLsAsync(Cid? cid, CancellationToken ct)
    {
        var query = new List<(string, string)> { ("type", "recursive") };
        if (cid is { } c)
        {
            query.Add(("arg", c.ToString()));
        }
        KuboPinLsBody body;
        try
        {
            body = await CallJsonAsync<KuboPinLsBody>("pin/ls", query, timeoutMeansNotFound: true, ct).ConfigureAwait(false);
        }
        catch (KuboNotFoundException) when (cid is not null)
        {
            return [];
        }
        var pins = new List<KuboPin>();
        foreach (var (key, value) in body.Keys ?? [])
        {
            if (Cid.TryParse(key, out var pinned))
            {
                pins.Add(new KuboPin(pinned, value?.Type ?? "recursive"));
            }
        }
        return pins;
    }

    public Task<KuboNodeId> IdAsync(CancellationToken ct) =>
        CallJsonAsync<KuboNodeId>("id", [], timeoutMeansNotFound: false, ct);

    public Task<KuboRepoStat> RepoStatAsync(CancellationToken ct) =>
        CallJsonAsync<KuboRepoStat>("repo/stat", [("size-only", "true")], timeoutMeansNotFound: false, ct);

    /// <summary>Imports a CARv1 and pins its roots; returns the roots. Retried only when <paramref name="car"/> can seek.</summary>
    public Task<IReadOnlyList<Cid>> DagImportAsync(Stream car, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(car);
        if (!car.CanSeek)
        {
            return DagImportOnceAsync(watchdog => new StreamContent(new CountingReadStream(car, watchdog), 256 * 1024), ct);
        }
        var start = car.Position;
        return _retry.ExecuteAsync(async token =>
        {
            car.Position = start;
            return await DagImportOnceAsync(watchdog => new StreamContent(new CountingReadStream(car, watchdog), 256 * 1024), token).ConfigureAwait(false);
        }, ct).AsTask();
    }

    /// <summary>Imports the CAR that <paramref name="writeCar"/> writes (called again on each retry) and pins its roots.</summary>
    public Task<IReadOnlyList<Cid>> DagImportAsync(Func<Stream, CancellationToken, Task> writeCar, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(writeCar);
        return _retry.ExecuteAsync(
            async token => await DagImportOnceAsync(watchdog => new CallbackContent(
                (stream, t) => writeCar(new WatchedWriteStream(stream, watchdog), t)), token).ConfigureAwait(false),
            ct).AsTask();
    }

    private async Task<IReadOnlyList<Cid>> DagImportOnceAsync(Func<UploadWatchdog, HttpContent> createCar, CancellationToken ct)
    {
        using var watchdog = new UploadWatchdog(_options.RequestTimeout + DeadlineGrace);
        using var form = new MultipartFormDataContent();
        form.Add(FilePart(createCar(watchdog)));
        using var deadline = Deadline(_options.TransferTimeout, ct, watchdog.Token);
        return await Guard(async () =>
        {
            using var response = await SendAsync("dag/import", [("pin-roots", "true")], form, _options.TransferTimeout, timeoutMeansNotFound: false, deadline.Token).ConfigureAwait(false);
            var roots = new List<Cid>();
            await foreach (var line in ReadLinesAsync<KuboDagImportLine>(response, deadline.Token).ConfigureAwait(false))
            {
                if (line.Root is { } root)
                {
                    if (!string.IsNullOrEmpty(root.PinErrorMsg))
                    {
                        throw Classify($"dag/import could not pin {root.Cid}: {root.PinErrorMsg}", 0, null, timeoutMeansNotFound: false);
                    }
                    roots.Add(root.Cid);
                }
            }
            return (IReadOnlyList<Cid>)roots;
        }, "dag/import", deadline, ct).ConfigureAwait(false);
    }

    private Task<T> CallJsonAsync<T>(string command, IReadOnlyList<(string, string)> query, bool timeoutMeansNotFound, CancellationToken ct) =>
        _retry.ExecuteAsync(async token =>
        {
            using var deadline = Deadline(_options.RequestTimeout, token);
            return await Guard(async () =>
            {
                using var response = await SendAsync(command, query, null, _options.RequestTimeout, timeoutMeansNotFound, deadline.Token).ConfigureAwait(false);
                await using var body = await response.Content.ReadAsStreamAsync(deadline.Token).ConfigureAwait(false);
                var value = await JsonSerializer.DeserializeAsync<T>(body, KuboJson.Options, deadline.Token).ConfigureAwait(false);
                CheckTrailer(response, timeoutMeansNotFound);
                return value ?? throw new KuboException($"{command} returned an empty answer.");
            }, command, deadline, token).ConfigureAwait(false);
        }, ct).AsTask();

    /// <summary>Sends one call; returns the response with its headers read, or throws the mapped error.</summary>
    private async Task<HttpResponseMessage> SendAsync(string command, IReadOnlyList<(string Key, string Value)> query, HttpContent? content,
        TimeSpan serverTimeout, bool timeoutMeansNotFound, CancellationToken ct)
    {
        EventThreadGuard.Check("The IPFS node's client");
        var url = new StringBuilder(_options.ApiUrl.ToString().TrimEnd('/')).Append("/api/v0/").Append(command).Append('?');
        foreach (var (key, value) in query)
        {
            url.Append(key).Append('=').Append(Uri.EscapeDataString(value)).Append('&');
        }
        url.Append("timeout=").Append(((long)serverTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).Append("ms");
        using var request = new HttpRequestMessage(HttpMethod.Post, url.ToString()) { Content = content };
        if (_options.Authorization is { } authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            throw await ReadErrorAsync(response, timeoutMeansNotFound, ct).ConfigureAwait(false);
        }
    }

    private async Task<KuboException> ReadErrorAsync(HttpResponseMessage response, bool timeoutMeansNotFound, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var buffer = new byte[MaxErrorBodyBytes];
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var n = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        KuboErrorBody? error = null;
        try
        {
            error = JsonSerializer.Deserialize<KuboErrorBody>(buffer.AsSpan(0, n), KuboJson.Options);
        }
        catch (JsonException)
        {
            // Not the API's error shape: a proxy page or plain text.
        }
        if (error?.Message is { } message)
        {
            return Classify(message, error.Code, status, timeoutMeansNotFound);
        }
        var text = Encoding.UTF8.GetString(buffer, 0, Math.Min(n, 200)).Trim();
        return status >= 500
            ? new KuboUnavailableException($"The IPFS node answered HTTP {status}: {text}", status)
            : new KuboException($"The IPFS node answered HTTP {status}: {text}", 0, status);
    }

    private KuboException Classify(string message, int code, int? status, bool timeoutMeansNotFound)
    {
        string[] notFound = ["not found", "no link named", "could not find", "not pinned", "no such file"];
        string[] timedOut = ["request timed out", "context deadline exceeded", "timeout exceeded"];
        if (notFound.Any(m => message.Contains(m, StringComparison.OrdinalIgnoreCase)))
        {
            return new KuboNotFoundException(message, code, status);
        }
        if (timedOut.Any(m => message.Contains(m, StringComparison.OrdinalIgnoreCase)))
        {
            // The node is up; what it waited for never came. For a block, that is "not here".
            return timeoutMeansNotFound
                ? new KuboNotFoundException($"{message} (not found within {_options.RequestTimeout})", code, status)
                : new KuboUnavailableException(message, status);
        }
        return new KuboException(message, code, status);
    }

    private void CheckTrailer(HttpResponseMessage response, bool timeoutMeansNotFound)
    {
        if (response.TrailingHeaders.TryGetValues(StreamErrorTrailer, out var values) && values.FirstOrDefault() is { Length: > 0 } value)
        {
            throw TrailerError(value, timeoutMeansNotFound);
        }
    }

    private KuboException TrailerError(string value, bool timeoutMeansNotFound)
    {
        // Kubo sends the bare message, js-ipfs the JSON error object.
        try
        {
            if (JsonSerializer.Deserialize<KuboErrorBody>(value, KuboJson.Options) is { Message: { } message } body)
            {
                return Classify(message, body.Code, null, timeoutMeansNotFound);
            }
        }
        catch (JsonException)
        {
        }
        return Classify(value, 0, null, timeoutMeansNotFound);
    }

    private async IAsyncEnumerable<T> ReadLinesAsync<T>(HttpResponseMessage response, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }
            yield return JsonSerializer.Deserialize<T>(line, KuboJson.Options) ?? throw new KuboException("The node sent an empty JSON line.");
        }
        CheckTrailer(response, timeoutMeansNotFound: false);
    }

    /// <summary>Maps transport failures and our own deadline to <see cref="KuboUnavailableException"/>.</summary>
    private async Task<T> Guard<T>(Func<Task<T>> call, string command, CancellationTokenSource deadline, CancellationToken callerToken)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!callerToken.IsCancellationRequested && deadline.IsCancellationRequested)
        {
            throw new KuboUnavailableException($"The IPFS node did not answer {command} in time.", e);
        }
        catch (HttpRequestException e)
        {
            throw new KuboUnavailableException($"The IPFS node is unreachable ({command}): {e.Message}", (int?)e.StatusCode, e);
        }
        catch (IOException e)
        {
            throw new KuboUnavailableException($"The connection to the IPFS node failed ({command}): {e.Message}", e);
        }
        catch (JsonException e)
        {
            throw new KuboException($"The IPFS node sent an unexpected answer to {command}: {e.Message}", e);
        }
    }

    private static CancellationTokenSource Deadline(TimeSpan timeout, CancellationToken ct, CancellationToken other = default)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct, other);
        cts.CancelAfter(timeout + DeadlineGrace);
        return cts;
    }

    private static HttpContent FilePart(HttpContent content)
    {
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentDisposition = new ContentDispositionHeaderValue("form-data") { Name = "\"file\"", FileName = "\"blob\"" };
        return content;
    }

    /// <summary>Request content produced by a callback, so a retry can produce it again.</summary>
    private sealed class CallbackContent(Func<Stream, CancellationToken, Task> write) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) =>
            write(stream, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context, CancellationToken cancellationToken) =>
            write(stream, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
