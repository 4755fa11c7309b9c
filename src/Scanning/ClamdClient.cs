using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;

namespace Detach.Scanning;

/// <summary>How <see cref="ClamdClient"/> talks to clamd.</summary>
public sealed class ClamdClientOptions
{
    public required ClamdEndpoint Endpoint { get; init; }

    /// <summary>The longest wait on clamd for one step: connecting, taking a chunk, giving the verdict.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The most bytes sent for one scan; keep it at or below clamd's StreamMaxLength (25 MiB in Debian's clamd.conf),
    /// which clamd enforces by answering "INSTREAM size limit exceeded" and closing. Longer content is scanned
    /// up to this length, as clamd itself scans only the first MaxScanSize bytes of a file.
    /// </summary>
    public long MaxStreamBytes { get; init; } = 25 * 1024 * 1024;

    /// <summary>Bytes per INSTREAM chunk.</summary>
    public int ChunkBytes { get; init; } = 64 * 1024;
}

/// <summary>
/// The clamd protocol (clamd(8)): one connection per command, z-prefixed commands and NUL-terminated replies.
/// <c>zINSTREAM</c> sends the content as chunks, each a 4-byte big-endian length and that many bytes, ended by a
/// zero length; clamd answers <c>stream: OK</c>, <c>stream: NAME FOUND</c> or <c>... ERROR</c>.
/// <c>zPING</c> and <c>zVERSION</c> serve health checks.
/// </summary>
public sealed class ClamdClient : IContentScanner
{
    /// <summary>A reply longer than this is not clamd talking.</summary>
    private const int MaxReplyBytes = 4096;

    private readonly ClamdClientOptions _options;

    public ClamdClient(ClamdClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.Timeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxStreamBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.ChunkBytes, 1);
        this._options = options;
    }

    public string Name => $"clamd at {_options.Endpoint}";

    /// <summary>True when clamd answers PING with PONG.</summary>
    public async Task<bool> PingAsync(CancellationToken cancellationToken) =>
        await CommandAsync("zPING", cancellationToken).ConfigureAwait(false) == "PONG";

    /// <summary>clamd's version and signature database: "ClamAV 1.4.6/27850/Mon Dec  1 09:28:02 2026".</summary>
    public Task<string> VersionAsync(CancellationToken cancellationToken) => CommandAsync("zVERSION", cancellationToken);

    public async Task<ScanVerdict> ScanAsync(Stream content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var connection = await ConnectAsync(timeout, cancellationToken).ConfigureAwait(false);
        await WaitOnClamdAsync(timeout, t => connection.WriteAsync("zINSTREAM\0"u8.ToArray(), t), cancellationToken).ConfigureAwait(false);

        // clamd speaks before the end of the stream only to refuse it (over StreamMaxLength) and then hangs up:
        // listen from the start, so that answer is read before the hang-up can discard it.
        using var stopListening = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reply = ReadReplyAsync(connection, stopListening.Token).AsTask();
        var buffer = ArrayPool<byte>.Shared.Rent(4 + _options.ChunkBytes);
        try
        {
            var (sent, truncated, sendError) = await SendStreamAsync(connection, content, buffer, reply, timeout, cancellationToken).ConfigureAwait(false);
            string text;
            try
            {
                text = await WaitOnClamdAsync(timeout, t => new ValueTask<string>(reply.WaitAsync(t)), cancellationToken).ConfigureAwait(false);
            }
            catch (ScannerException) when (sendError is not null)
            {
                throw sendError;
            }

            return ParseScanReply(text, sent, truncated);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await stopListening.CancelAsync().ConfigureAwait(false);
            // Wait for the listener to stop, and mark its failure (if any) as seen: the verdict already reported it.
            await Task.WhenAny(reply).ConfigureAwait(false);
            _ = reply.Exception;
        }
    }

    /// <summary>The chunks and the zero-length end; stops early when clamd answered or the connection broke.</summary>
    private async Task<(long Sent, bool Truncated, ScannerException? Error)> SendStreamAsync(
        NetworkStream connection, Stream content, byte[] buffer, Task<string> reply, CancellationTokenSource timeout, CancellationToken cancellationToken)
    {
        long sent = 0;
        try
        {
            while (!reply.IsCompleted)
            {
                // Reading the content is not clamd's time: the timeout runs only while clamd is the one we wait for.
                var room = (int)Math.Min(_options.ChunkBytes, _options.MaxStreamBytes - sent);
                var read = await content.ReadAsync(buffer.AsMemory(4, Math.Max(room, 1)), cancellationToken).ConfigureAwait(false);
                if (read > 0 && room == 0)
                {
                    // One byte past the limit: there is more than clamd will take. Leave the rest unread.
                    await EndAsync().ConfigureAwait(false);
                    return (sent, true, null);
                }

                if (read == 0)
                {
                    await EndAsync().ConfigureAwait(false);
                    return (sent, false, null);
                }

                BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)read);
                await WaitOnClamdAsync(timeout, t => connection.WriteAsync(buffer.AsMemory(0, 4 + read), t), cancellationToken).ConfigureAwait(false);
                sent += read;
            }

            return (sent, false, null);
        }
        catch (ScannerException e)
        {
            return (sent, false, e);
        }

        Task EndAsync()
        {
            BinaryPrimitives.WriteUInt32BigEndian(buffer, 0);
            return WaitOnClamdAsync(timeout, t => connection.WriteAsync(buffer.AsMemory(0, 4), t), cancellationToken);
        }
    }

    /// <summary>clamd's answer to INSTREAM as a verdict; an error answer or anything unexpected throws.</summary>
    internal static ScanVerdict ParseScanReply(string reply, long scannedBytes, bool truncated)
    {
        const string Found = " FOUND";
        if (reply.EndsWith(Found, StringComparison.Ordinal))
        {
            // "stream: Win.Test.EICAR_HDB-1 FOUND"; older clamd versions add "(hash:size)" after the name.
            var colon = reply.IndexOf(": ", StringComparison.Ordinal);
            var signature = reply[(colon < 0 ? 0 : colon + 2)..^Found.Length].Trim();
            return new ScanVerdict(signature.Length > 0 ? signature : "unnamed", scannedBytes, truncated);
        }

        if (reply.EndsWith(": OK", StringComparison.Ordinal) || reply == "OK")
        {
            return new ScanVerdict(null, scannedBytes, truncated);
        }

        throw new ScannerException(Explain(reply));
    }

    private static string Explain(string reply) =>
        reply.Contains("size limit exceeded", StringComparison.OrdinalIgnoreCase)
            ? $"clamd refused the stream: \"{reply}\" (its StreamMaxLength is smaller than what we send: lower Scan:MaxStreamBytes or raise StreamMaxLength)"
            : $"clamd answered \"{reply}\"";

    private async Task<string> CommandAsync(string command, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var connection = await ConnectAsync(timeout, cancellationToken).ConfigureAwait(false);
        await WaitOnClamdAsync(timeout, t => connection.WriteAsync(Encoding.ASCII.GetBytes(command + "\0"), t), cancellationToken).ConfigureAwait(false);
        return await WaitOnClamdAsync(timeout, t => ReadReplyAsync(connection, t), cancellationToken).ConfigureAwait(false);
    }

    private async Task<NetworkStream> ConnectAsync(CancellationTokenSource timeout, CancellationToken cancellationToken)
    {
        var socket = await WaitOnClamdAsync(timeout, t => new ValueTask<Socket>(_options.Endpoint.ConnectAsync(t)), cancellationToken).ConfigureAwait(false);
        return new NetworkStream(socket, ownsSocket: true);
    }

    /// <summary>
    /// Runs one step that waits on clamd under the timeout (restarted for each step, stopped after it), and turns
    /// socket errors and the timeout into <see cref="ScannerException"/>. The caller's own cancellation passes through.
    /// </summary>
    private async Task<T> WaitOnClamdAsync<T>(CancellationTokenSource timeout, Func<CancellationToken, ValueTask<T>> step, CancellationToken cancellationToken)
    {
        timeout.CancelAfter(_options.Timeout);
        try
        {
            return await step(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ScannerException($"{Name} did not answer within {_options.Timeout.TotalSeconds:0.#} s", e);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            throw new ScannerException($"{Name}: {e.Message}", e);
        }
        finally
        {
            timeout.CancelAfter(Timeout.InfiniteTimeSpan);
        }
    }

    private Task WaitOnClamdAsync(CancellationTokenSource timeout, Func<CancellationToken, ValueTask> step, CancellationToken cancellationToken) =>
        WaitOnClamdAsync(timeout, async t =>
        {
            await step(t).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <summary>Reads up to the NUL that ends a z-command's reply (or the end of the connection).</summary>
    private static async ValueTask<string> ReadReplyAsync(NetworkStream connection, CancellationToken cancellationToken)
    {
        var reply = new byte[MaxReplyBytes];
        var length = 0;
        while (true)
        {
            var read = await connection.ReadAsync(reply.AsMemory(length), cancellationToken).ConfigureAwait(false);
            var end = Array.IndexOf(reply, (byte)0, length, read);
            length += read;
            if (end >= 0 || read == 0)
            {
                var text = Encoding.ASCII.GetString(reply, 0, end >= 0 ? end : length).Trim();
                return text.Length > 0 ? text : throw new IOException("clamd closed the connection without an answer.");
            }

            if (length == reply.Length)
            {
                throw new IOException($"clamd's answer is longer than {MaxReplyBytes} bytes.");
            }
        }
    }
}
