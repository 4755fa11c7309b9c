using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Detach.Crypto;
using Detach.Gateway.Cli;
using Detach.Gateway.Http;
using Detach.Mime;
using Detach.Vault;

namespace Detach.Gateway.Fetch;

/// <summary>Where a download goes: a file, a folder, standard output ("-"), or (null) the offered name in the working folder.</summary>
public sealed record FetchTarget(string? Path, bool Continue)
{
    public const string StandardOutput = "-";

    public bool IsStandardOutput => Path == StandardOutput;

    /// <summary>The folder a download goes to, and the file name if the user gave one (an existing folder means "in there").</summary>
    public (string Folder, string? File) Place()
    {
        if (Path is null)
        {
            return (Directory.GetCurrentDirectory(), null);
        }

        var full = System.IO.Path.GetFullPath(Path);
        if (Directory.Exists(full))
        {
            return (full, null);
        }

        var folder = System.IO.Path.GetDirectoryName(full)!;
        return Directory.Exists(folder)
            ? (folder, full)
            : throw new FetchFailedException(ExitCodes.CannotCreate, $"cannot write {full}: the folder {folder} does not exist.");
    }
}

/// <summary>What was fetched: where it went (null for standard output), its name and length, and how many bytes an earlier run had.</summary>
public sealed record FetchedFile(string? SavedAs, string Name, long Length, long Resumed);

/// <summary>
/// Downloads a link from its own host: <c>GET {base}/d/{cid}/file</c> with the key in the X-Detach-Key header,
/// never in a URL. The body goes to a <see cref="PartialDownload"/> that becomes the target only once every
/// announced byte arrived; an interrupted run keeps it, and <c>--continue</c> asks for the rest with a Range
/// request conditioned on the ETag (If-Range), so bytes of a different object are never spliced on. Every failure
/// becomes a <see cref="FetchFailedException"/> with a sentence and an exit code.
/// </summary>
public sealed class RemoteFetcher(HttpClient http, Func<Stream> standardOutput, Func<string, long?, long, TransferProgress?> progress, TextWriter notes)
{
    /// <summary>A transfer that brings no byte for this long is given up (and can be continued).</summary>
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(60);

    private const int MaxRedirects = 3;
    private const int BufferSize = 128 * 1024;

    /// <summary>
    /// The client `detach fetch` uses: the system's proxy settings and trust store (OpenSSL's default CA paths, which
    /// SSL_CERT_FILE and SSL_CERT_DIR override), redirects and timeouts handled here.
    /// </summary>
    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        // Followed by hand: the key goes along only to the same host, and never from https down to http.
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        UseCookies = false,
    })
    {
        // A large file takes as long as it takes; a stalled one is caught per read (StallTimeout).
        Timeout = Timeout.InfiniteTimeSpan,
        DefaultRequestHeaders = { UserAgent = { new ProductInfoHeaderValue("detach-fetch", "1") } },
    };

    public async Task<FetchedFile> FetchAsync(DownloadLink link, FetchTarget target, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(link);
        ArgumentNullException.ThrowIfNull(target);
        var url = new Uri(link.BaseUrl + DownloadLink.PathPrefix + Uri.EscapeDataString(link.Cid) + "/file");
        if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback)
        {
            await notes.WriteLineAsync($"note: {url.Authority} is reached over plain http, so the key crosses the network unencrypted.").ConfigureAwait(false);
        }

        try
        {
            return target.IsStandardOutput
                ? await ToStandardOutputAsync(url, link.LinkKey, cancellationToken).ConfigureAwait(false)
                : await ToFileAsync(url, link, target, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(url, e);
        }
    }

    private async Task<FetchedFile> ToStandardOutputAsync(Uri url, byte[] key, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(url, key, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw await GatewayRefusal.ReadAsync(response, cancellationToken).ConfigureAwait(false);
        }

        var name = SavedFileName.From(response.Content.Headers.ContentDisposition);
        var length = response.Content.Headers.ContentLength;
        var output = standardOutput();
        await using (output.ConfigureAwait(false))
        {
            var copied = await CopyAsync(response, output, name, 0, length, "standard output got only part of the file", cancellationToken).ConfigureAwait(false);
            return new FetchedFile(null, name, copied, 0);
        }
    }

    private async Task<FetchedFile> ToFileAsync(Uri url, DownloadLink link, FetchTarget target, CancellationToken cancellationToken)
    {
        var (folder, file) = target.Place();
        var part = new PartialDownload(folder, link.Cid);
        var kept = target.Continue ? part.FindResumable() : null;
        if (target.Continue && kept is null)
        {
            await notes.WriteLineAsync($"nothing to continue in {folder}: downloading from the start.").ConfigureAwait(false);
        }

        if (kept is { } whole && whole.Have == whole.State.Length)
        {
            // The earlier run got every byte and stopped before the rename.
            return new FetchedFile(part.Complete(file, whole.State.Name), whole.State.Name, whole.Have, whole.Have);
        }

        using var response = await SendAsync(url, link.LinkKey, kept is { } k ? (k.Have, k.State.ETag!) : null, cancellationToken).ConfigureAwait(false);
        long offset = 0;
        switch (response.StatusCode)
        {
            case HttpStatusCode.PartialContent when kept is { } resumed:
                CheckContinuation(response, resumed.State, resumed.Have);
                offset = resumed.Have;
                break;
            case HttpStatusCode.OK:
                if (kept is not null)
                {
                    await notes.WriteLineAsync("the server sent the whole file (it changed since the kept part, or does not resume): downloading from the start.").ConfigureAwait(false);
                }

                break;
            case HttpStatusCode.NotFound or HttpStatusCode.Gone when kept is not null:
                // It can never be completed now; half of a withdrawn file should not linger either.
                part.Discard();
                throw await GatewayRefusal.ReadAsync(response, cancellationToken).ConfigureAwait(false);
            default:
                throw await GatewayRefusal.ReadAsync(response, cancellationToken).ConfigureAwait(false);
        }

        var name = SavedFileName.From(response.Content.Headers.ContentDisposition);
        long? total = response.Content.Headers.ContentLength is { } rest ? offset + rest : null;
        var etag = response.Headers.ETag is { IsWeak: false } tag ? tag.Tag : null;
        var resumeHint = etag is null
            ? "the server sends no ETag, so it cannot be continued: run the command again"
            : $"the bytes so far are kept in {part.DataPath}: run the same command with --continue to resume";

        long copied;
        var stream = part.Begin(new PartialDownload.State(etag, total ?? long.MaxValue, name), append: offset > 0);
        await using (stream.ConfigureAwait(false))
        {
            copied = await CopyAsync(response, stream, name, offset, total, resumeHint, cancellationToken).ConfigureAwait(false);
            // Durable before the rename, so the target is never a name for missing blocks.
            stream.Flush(flushToDisk: true);
        }

        return new FetchedFile(part.Complete(file, name), name, offset + copied, offset);
    }

    /// <summary>A 206 must continue exactly the kept bytes of the same object, or nothing is appended.</summary>
    private static void CheckContinuation(HttpResponseMessage response, PartialDownload.State state, long have)
    {
        var range = response.Content.Headers.ContentRange;
        var sameObject = response.Headers.ETag is { IsWeak: false } tag && tag.Tag == state.ETag;
        if (!sameObject || range is not { HasRange: true, HasLength: true } || range.From != have || range.Length != state.Length
            || range.To != state.Length - 1)
        {
            throw new FetchFailedException(ExitCodes.Protocol,
                $"the server answered the resume with other bytes than the ones missing ({range}); run the command without --continue to download the whole file.");
        }
    }

    private async Task<HttpResponseMessage> SendAsync(Uri url, byte[] key, (long From, string ETag)? resume, CancellationToken cancellationToken)
    {
        for (var hops = 0; ; hops++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Add(LinkKeyHeader.Name, LinkKeyText.Encode(key));
            // The file, or the gateway's problem as JSON (which names the reason) rather than its HTML page.
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/octet-stream"));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json", 0.5));
            if (resume is { } r)
            {
                request.Headers.Range = new RangeHeaderValue(r.From, null);
                request.Headers.IfRange = new RangeConditionHeaderValue(r.ETag);
            }

            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if ((int)response.StatusCode is not (301 or 302 or 303 or 307 or 308))
            {
                return response;
            }

            var location = response.Headers.Location;
            response.Dispose();
            var next = location is null ? null : new Uri(url, location);
            if (next is null || hops >= MaxRedirects || !SameHostNoDowngrade(url, next))
            {
                throw new FetchFailedException(ExitCodes.Protocol,
                    $"{url.Authority} redirects to {next?.GetLeftPart(UriPartial.Authority) ?? "nowhere"}; detach fetch sends the key only to the link's own host. " +
                    "Open the link in a browser, or ask the sender for a link to that host.");
            }

            url = next;
        }
    }

    private static bool SameHostNoDowngrade(Uri from, Uri to) =>
        string.Equals(from.Host, to.Host, StringComparison.OrdinalIgnoreCase)
        && (to.Scheme == Uri.UriSchemeHttps || from.Scheme == Uri.UriSchemeHttp);

    /// <summary>Copies the body, reporting progress; a broken or stalled connection ends with <paramref name="onBreak"/> as advice.</summary>
    private async Task<long> CopyAsync(
        HttpResponseMessage response, Stream destination, string name, long offset, long? total, string onBreak, CancellationToken cancellationToken)
    {
        var host = response.RequestMessage?.RequestUri?.Authority;
        var meter = progress(name, total, offset);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        long copied = 0;
        string Broke(string what) =>
            $"{what} after {SizeText.Format(offset + copied)}{(total is { } t ? " of " + SizeText.Format(t) : "")}; {onBreak}.";
        try
        {
            var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            await using (body.ConfigureAwait(false))
            {
                using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                while (true)
                {
                    int read;
                    stall.CancelAfter(StallTimeout);
                    try
                    {
                        read = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw new FetchFailedException(ExitCodes.TempFail, Broke($"{host} sent nothing for {StallTimeout.TotalSeconds} s"));
                    }
                    catch (Exception e) when (e is IOException or HttpRequestException)
                    {
                        throw new FetchFailedException(ExitCodes.TempFail, Broke($"the connection to {host} broke ({e.Message})"));
                    }

                    if (read == 0)
                    {
                        break;
                    }

                    try
                    {
                        await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    }
                    catch (IOException e)
                    {
                        throw new FetchFailedException(ExitCodes.IoError, Broke($"writing failed ({e.Message})"));
                    }

                    copied += read;
                    meter?.Advance(read);
                }
            }

            if (total is { } expected && offset + copied != expected)
            {
                throw new FetchFailedException(ExitCodes.TempFail, Broke($"{host} ended the file early"));
            }

            await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            return copied;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new FetchFailedException(ExitCodes.Interrupted, Broke("interrupted"));
        }
        finally
        {
            meter?.Finish();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static FetchFailedException Unreachable(Uri url, HttpRequestException e) => e.HttpRequestError switch
    {
        HttpRequestError.NameResolutionError => new(ExitCodes.NoHost, $"cannot find the host {url.Host} ({e.Message}): check the link, or your network and DNS."),
        HttpRequestError.SecureConnectionError => new(ExitCodes.Protocol,
            $"no secure connection to {url.Authority}: {e.InnerException?.Message ?? e.Message} The server's certificate must be valid for {url.Host} " +
            "and issued by an authority this system trusts (its trust store)."),
        _ => new(ExitCodes.TempFail, $"cannot reach {url.Authority} ({e.Message}); try again later."),
    };
}
