using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.Smtp;

/// <summary>
/// An SMTP/LMTP client for one next-hop connection, made for relaying: every method returns the
/// server's reply as it came, so a proxy can hand it back verbatim. Not thread-safe: one command at a time.
/// Any transport failure, timeout, cancellation or malformed reply aborts the connection (it is unusable
/// afterwards), and a message whose source stream fails mid-DATA is never ended with the final dot:
/// the connection is dropped instead, so the next hop never accepts half a message.
/// </summary>
public sealed class SmtpRelayClient : IAsyncDisposable
{
    /// <summary>Source bytes per BDAT chunk.</summary>
    private const int ChunkSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly SmtpRelayClientOptions _options;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private int _acceptedRecipients;
    private bool _inTransaction;
    private bool _broken;
    private bool _disposed;
    private int _busy;

    private SmtpRelayClient(Stream stream, SmtpRelayClientOptions options)
    {
        _stream = stream;
        _options = options;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 8192, leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 65536, leaveOpen: true));
        Greeting = new SmtpReply(220, null, "");
    }

    /// <summary>The server's 220 greeting.</summary>
    public SmtpReply Greeting { get; private set; }

    /// <summary>What the last EHLO/LHLO announced; <see cref="SmtpCapabilities.None"/> before it or after HELO.</summary>
    public SmtpCapabilities Capabilities { get; private set; } = SmtpCapabilities.None;

    /// <summary>False once the connection was aborted or broke.</summary>
    public bool IsUsable => !_broken && !_disposed;

    /// <summary>The client speaks LMTP (<see cref="SmtpRelayClientOptions.Lmtp"/>).</summary>
    public bool IsLmtp => _options.Lmtp;

    /// <summary>Recipients accepted in the current transaction (LMTP DATA reads one reply for each).</summary>
    public int AcceptedRecipients => _acceptedRecipients;

    /// <summary>
    /// True between an accepted MAIL and the end of its transaction (the replies to the final dot, or RSET):
    /// a connection handed to another session while this is true must be reset first.
    /// </summary>
    public bool InTransaction => _inTransaction;

    /// <summary>
    /// Connects, reads the greeting and says EHLO (LHLO): a connection ready for <see cref="MailAsync"/>. A refused
    /// greeting or hello throws <see cref="SmtpException"/> with the server's reply.
    /// </summary>
    public static async Task<SmtpRelayClient> OpenAsync(EndPoint endPoint, SmtpRelayClientOptions options, CancellationToken cancellationToken)
    {
        SmtpRelayClient client = await ConnectAsync(endPoint, options, cancellationToken).ConfigureAwait(false);
        try
        {
            SmtpReply hello = await client.HelloAsync(cancellationToken).ConfigureAwait(false);
            if (!hello.IsPositiveCompletion)
            {
                throw new SmtpException(hello);
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Connects to an <see cref="IPEndPoint"/>, <see cref="DnsEndPoint"/> or <see cref="UnixDomainSocketEndPoint"/>
    /// (LMTP to Dovecot) and reads the greeting. A greeting other than 2yz throws <see cref="SmtpException"/>.
    /// </summary>
    public static async Task<SmtpRelayClient> ConnectAsync(EndPoint endPoint, SmtpRelayClientOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(options);
        Socket socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"Connecting to {endPoint} timed out.", e);
                }
            }

            if (socket.AddressFamily != AddressFamily.Unix)
            {
                socket.NoDelay = true;
            }

            if (options.InlineCompletions)
            {
                InlineCompletions.TryEnable(socket);
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return await ConnectAsync(new NetworkStream(socket, ownsSocket: true), options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs over an already connected stream (which the client then owns) and reads the greeting.</summary>
    private static async Task<SmtpRelayClient> ConnectAsync(Stream stream, SmtpRelayClientOptions options, CancellationToken cancellationToken)
    {
        var client = new SmtpRelayClient(stream, options);
        try
        {
            client.Greeting = await client.RunAsync(null, options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (!client.Greeting.IsPositiveCompletion)
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw new SmtpException(client.Greeting);
        }

        return client;
    }

    /// <summary>EHLO (LHLO for LMTP) with <see cref="SmtpRelayClientOptions.ClientName"/>; falls back to HELO when an SMTP server refuses EHLO.</summary>
    public async Task<SmtpReply> HelloAsync(CancellationToken cancellationToken)
    {
        string verb = _options.Lmtp ? "LHLO" : "EHLO";
        SmtpReply reply = await RunAsync($"{verb} {_options.ClientName}", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.IsPositiveCompletion)
        {
            Capabilities = SmtpCapabilities.FromEhloReply(reply);
            return reply;
        }

        Capabilities = SmtpCapabilities.None;
        if (_options.Lmtp || reply.Code is not (500 or 501 or 502 or 504 or 550))
        {
            return reply;
        }

        return await RunAsync($"HELO {_options.ClientName}", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One command at a time: the first refusal, or the last reply; null for no command.</summary>
    private async Task<SmtpReply?> RunEachAsync(IEnumerable<string> commands, CancellationToken cancellationToken)
    {
        SmtpReply? reply = null;
        foreach (string command in commands)
        {
            reply = await RunAsync(command, _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            if (!reply.IsPositiveCompletion)
            {
                return reply;
            }
        }

        return reply;
    }

    /// <summary>
    /// XFORWARD commands with the attributes the server announced (others are left out), xtext-encoded, null as
    /// "[UNAVAILABLE]", split over several commands to keep each line within the limit.
    /// </summary>
    private List<string> XforwardCommands(IEnumerable<KeyValuePair<string, string?>>? attributes)
    {
        if (attributes is null)
        {
            return [];
        }

        IReadOnlySet<string> announced = Capabilities.XforwardAttributes;
        var lines = new List<string>();
        var line = new StringBuilder("XFORWARD");
        foreach ((string name, string? value) in attributes)
        {
            string upper = name.ToUpperInvariant();
            if (!announced.Contains(upper))
            {
                continue;
            }

            string token = $" {upper}={EncodeXforwardValue(value)}";
            if (token.Length + "XFORWARD".Length + 2 > _options.MaxCommandLineLength)
            {
                token = $" {upper}=[UNAVAILABLE]";
            }

            if (line.Length + token.Length + 2 > _options.MaxCommandLineLength)
            {
                lines.Add(line.ToString());
                line.Clear().Append("XFORWARD");
            }

            line.Append(token);
        }

        if (line.Length > "XFORWARD".Length)
        {
            lines.Add(line.ToString());
        }

        return lines;
    }

    /// <summary>
    /// XFORWARD with the client's identity (the attributes the server announced; none when it offers no XFORWARD),
    /// then MAIL FROM with the client's parameters as they came: one write and one wait when the server offers
    /// PIPELINING (XFORWARD may be pipelined, Postfix's XFORWARD_README), else one command at a time. Returns the
    /// refusal of an XFORWARD command if there was one (a MAIL the server took anyway is then reset, so no transaction
    /// stays open), otherwise the reply to MAIL.
    /// </summary>
    /// <param name="clientIdentity">XFORWARD attributes (<see cref="SmtpSessionContext.ClientIdentity"/>), or null.</param>
    public async Task<SmtpReply> MailAsync(MailFromCommand mail, IEnumerable<KeyValuePair<string, string?>>? clientIdentity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mail);
        List<string> commands = XforwardCommands(clientIdentity);
        _acceptedRecipients = 0;
        if (commands.Count > 0 && !Capabilities.Pipelining
            && await RunEachAsync(commands, cancellationToken).ConfigureAwait(false) is { IsPositiveCompletion: false } refusal)
        {
            return refusal;
        }

        if (!Capabilities.Pipelining)
        {
            commands.Clear();
        }

        commands.Add(WithParameters($"MAIL FROM:<{mail.ReversePath}>", mail.RawParameters));
        SmtpReply[] replies = await RunPipelinedAsync(commands, cancellationToken).ConfigureAwait(false);
        SmtpReply mailReply = replies[^1];
        _inTransaction = mailReply.IsPositiveCompletion;
        SmtpReply? refused = Array.Find(replies, r => !r.IsPositiveCompletion);
        if (refused is null || ReferenceEquals(refused, mailReply))
        {
            return mailReply;
        }

        await TryResetAsync(cancellationToken).ConfigureAwait(false);
        return refused;
    }

    private static string EncodeXforwardValue(string? value) => value switch
    {
        null or "" => "[UNAVAILABLE]",
        "[UNAVAILABLE]" or "[TEMPUNAVAIL]" => value,
        _ => Xtext.Encode(value),
    };

    /// <summary>RCPT TO with the client's parameters as they came; a 2yz reply counts the recipient as accepted.</summary>
    public async Task<SmtpReply> RcptAsync(RcptToCommand rcpt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rcpt);
        SmtpReply reply = await RunAsync(WithParameters($"RCPT TO:<{rcpt.ForwardPath}>", rcpt.RawParameters), _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.IsPositiveCompletion)
        {
            _acceptedRecipients++;
        }

        return reply;
    }

    private static string WithParameters(string command, string? parameters) =>
        string.IsNullOrWhiteSpace(parameters) ? command : $"{command} {parameters.Trim()}";

    /// <summary>
    /// The message, then the verdict: in pipelined BDAT chunks when the server offers CHUNKING and PIPELINING (SMTP),
    /// else DATA with the message dot-stuffed (bare LF made CRLF, the last line ended if needed) and the final dot.
    /// Returns one reply, or for LMTP one per accepted recipient in RCPT order; a refused DATA is one reply either way.
    /// A source that fails drops the connection before the message could be complete.
    /// </summary>
    public Task<IReadOnlyList<SmtpReply>> DataAsync(Stream message, CancellationToken cancellationToken) =>
        SendDataAsync(message, _options.Lmtp ? _acceptedRecipients : 1, cancellationToken);

    private async Task<IReadOnlyList<SmtpReply>> SendDataAsync(Stream message, int expectedReplies, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (Capabilities.Chunking && Capabilities.Pipelining && !_options.Lmtp)
        {
            return [await SendChunksAsync(message, cancellationToken).ConfigureAwait(false)];
        }

        SmtpReply start = await RunAsync("DATA", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (start.Code != 354)
        {
            _acceptedRecipients = 0;
            return [start];
        }

        Enter();
        try
        {
            await SendMessageAsync(message, cancellationToken).ConfigureAwait(false);
            var replies = new SmtpReply[Math.Max(1, expectedReplies)];
            for (int i = 0; i < replies.Length; i++)
            {
                replies[i] = await ReadReplyAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
            }

            _acceptedRecipients = 0;
            _inTransaction = false;
            return replies;
        }
        catch
        {
            Abort();
            throw;
        }
        finally
        {
            Exit();
        }
    }

    /// <summary>
    /// The message in BDAT chunks (RFC 3030), pipelined: no DATA round trip and no dot-stuffing. Each chunk is what
    /// one read of the source gave, with bare LFs made CRLF as in DATA; an empty (or line-ending) LAST chunk ends it,
    /// so a source that fails half way never produces one. Replies are read at the end: one per chunk, the last
    /// being the verdict on the message, unless an earlier chunk was refused. SMTP only: after a refused chunk an
    /// LMTP server's number of replies is not certain.
    /// </summary>
    private async Task<SmtpReply> SendChunksAsync(Stream message, CancellationToken cancellationToken)
    {
        Enter();
        byte[] read = ArrayPool<byte>.Shared.Rent(ChunkSize);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(LineEnds.MaxOutput(ChunkSize));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            bool afterCr = false;
            bool lineStart = true;
            int chunks = 0;
            int n;
            while ((n = await message.ReadAsync(read.AsMemory(0, ChunkSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                int length = LineEnds.Normalise(read.AsSpan(0, n), chunk, ref afterCr, ref lineStart, stuffDots: false);
                WriteCommand($"BDAT {length}");
                _output.Write(chunk.AsSpan(0, length));
                chunks++;
                if (_output.UnflushedBytes >= DotWriter.FlushThreshold)
                {
                    timeout.CancelAfter(_options.CommandTimeout);
                    await _output.FlushAsync(timeout.Token).ConfigureAwait(false);
                    timeout.TryReset();
                }
            }

            ReadOnlySpan<byte> ending = LineEnds.LastLineEnding(afterCr, lineStart);
            WriteCommand($"BDAT {ending.Length} LAST");
            _output.Write(ending);
            timeout.CancelAfter(_options.CommandTimeout);
            await _output.FlushAsync(timeout.Token).ConfigureAwait(false);

            SmtpReply? refused = null;
            for (int i = 0; i < chunks; i++)
            {
                SmtpReply reply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
                refused ??= reply.IsPositiveCompletion ? null : reply;
            }

            SmtpReply verdict = await ReadReplyAsync(_options.DataTimeout, cancellationToken).ConfigureAwait(false);
            _acceptedRecipients = 0;
            _inTransaction = false;
            return refused ?? verdict;
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            Abort();
            throw new TimeoutException("Timed out sending the message.", e);
        }
        catch
        {
            Abort();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(read);
            ArrayPool<byte>.Shared.Return(chunk);
            Exit();
        }
    }


    private async Task SendMessageAsync(Stream message, CancellationToken cancellationToken)
    {
        var writer = new DotWriter(_output);
        byte[] chunk = ArrayPool<byte>.Shared.Rent(65536);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            while (true)
            {
                int n = await message.ReadAsync(chunk, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                timeout.CancelAfter(_options.CommandTimeout);
                await writer.WriteAsync(chunk.AsMemory(0, n), timeout.Token).ConfigureAwait(false);
                timeout.TryReset();
            }

            // Only a source read to its end gets the final dot.
            timeout.CancelAfter(_options.CommandTimeout);
            await writer.CompleteAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException("Timed out sending the message.", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
    }

    /// <summary>
    /// Ends a transaction left open (RSET) and says whether the connection can serve another one: a connection whose
    /// RSET fails is dropped. A connection with no open transaction costs nothing: no command is sent.
    /// </summary>
    public async Task<bool> TryResetAsync(CancellationToken cancellationToken)
    {
        if (!IsUsable || !_inTransaction)
        {
            return IsUsable;
        }

        try
        {
            SmtpReply reply = await RunAsync("RSET", _options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            _acceptedRecipients = 0;
            if (reply.IsPositiveCompletion)
            {
                _inTransaction = false;
                return true;
            }
        }
        catch (Exception e) when (e is IOException or TimeoutException or SmtpProtocolException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // Dropped below.
        }

        Abort();
        return false;
    }

    public Task<SmtpReply> NoopAsync(CancellationToken cancellationToken) =>
        RunAsync("NOOP", _options.CommandTimeout, cancellationToken);

    /// <summary>
    /// Sends QUIT and closes without waiting for the 221, as Postfix's smtp client does by default
    /// (smtp_skip_quit_response): the transactions are over, and the reply would only cost a round trip.
    /// </summary>
    public async Task QuitAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (IsUsable)
            {
                _output.Write("QUIT\r\n"u8);
                await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The session is over either way.
        }
        finally
        {
            await DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Drops the connection at once: no QUIT, no final dot.</summary>
    public void Abort()
    {
        _broken = true;
        _stream.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _input.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Nothing to flush to a closed connection.
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Writes one command (or none, for the greeting) and reads its reply; any failure aborts the connection.</summary>
    private async Task<SmtpReply> RunAsync(string? command, TimeSpan timeout, CancellationToken cancellationToken) =>
        (await ExchangeAsync(command is null ? [] : [command], 1, timeout, cancellationToken).ConfigureAwait(false))[0];

    /// <summary>Writes several commands in one packet (RFC 2920) and reads their replies in order.</summary>
    private Task<SmtpReply[]> RunPipelinedAsync(IReadOnlyList<string> commands, CancellationToken cancellationToken) =>
        ExchangeAsync(commands, commands.Count, _options.CommandTimeout, cancellationToken);

    private async Task<SmtpReply[]> ExchangeAsync(IReadOnlyList<string> commands, int replyCount, TimeSpan timeout, CancellationToken cancellationToken)
    {
        foreach (string command in commands)
        {
            CheckCommandText(command);
        }

        Enter();
        try
        {
            if (commands.Count > 0)
            {
                foreach (string command in commands)
                {
                    WriteCommand(command);
                }

                using var writeTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                writeTimeout.CancelAfter(timeout);
                await _output.FlushAsync(writeTimeout.Token).ConfigureAwait(false);
            }

            var replies = new SmtpReply[replyCount];
            for (int i = 0; i < replies.Length; i++)
            {
                replies[i] = await ReadReplyAsync(timeout, cancellationToken).ConfigureAwait(false);
            }

            return replies;
        }
        catch (Exception e)
        {
            Abort();
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                string verbs = commands.Count == 0 ? "the greeting" : string.Join('+', commands.Select(c => c.Split(' ', 2)[0]));
                throw new TimeoutException($"No reply to {verbs} within {timeout}.", e);
            }

            throw;
        }
        finally
        {
            Exit();
        }
    }

    private static void CheckCommandText(string command)
    {
        if (command.AsSpan().IndexOfAny("\r\n\0") >= 0)
        {
            throw new ArgumentException("SMTP command text cannot contain CR, LF or NUL.", nameof(command));
        }
    }

    private void WriteCommand(string command)
    {
        int max = Encoding.UTF8.GetMaxByteCount(command.Length) + 2;
        Span<byte> span = _output.GetSpan(max);
        int n = Encoding.UTF8.GetBytes(command, span);
        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        _output.Advance(n);
    }

    private async Task<SmtpReply> ReadReplyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        readTimeout.CancelAfter(timeout);
        while (true)
        {
            ReadResult result = await _input.ReadAsync(readTimeout.Token).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            SmtpReply? reply;
            try
            {
                if (_options.ReplyParser.TryParse(ref buffer, out reply))
                {
                    _input.AdvanceTo(buffer.Start);
                    return reply;
                }
            }
            catch (SmtpProtocolException)
            {
                _input.AdvanceTo(buffer.End);
                throw;
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new SmtpProtocolException("The server closed the connection without a complete reply.");
            }
        }
    }

    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken)
        {
            throw new InvalidOperationException("The connection was aborted after an earlier failure.");
        }

        if (Interlocked.Exchange(ref _busy, 1) == 1)
        {
            throw new InvalidOperationException("SmtpRelayClient runs one command at a time.");
        }
    }

    private void Exit() => Volatile.Write(ref _busy, 0);
}
