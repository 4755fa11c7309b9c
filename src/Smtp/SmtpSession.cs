using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Smtp;

/// <summary>
/// One SMTP/LMTP server connection over a stream. Commands are parsed from whatever is buffered before
/// more is read, and replies are flushed only when the input is drained, so pipelined clients get their
/// replies in one write, as from Postfix. <see cref="RunAsync"/> returns when the client quits, the
/// connection drops, a limit closes it, or shutdown is requested while the client is idle (421 4.3.2).
/// The caller owns and disposes the stream it passed in.
/// </summary>
public sealed class SmtpSession
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _transport;
    private readonly ISmtpBackend _backend;
    private readonly SmtpServerOptions _options;
    private readonly SmtpLimits _limits;
    private readonly ILogger _logger;
    private Stream _stream;
    private PipeReader _input;
    private PipeWriter _output;
    private ISmtpSessionHandler? _handler;
    private ISmtpTransaction? _transaction;
    private int _recipients;
    private int _accepted;
    private int _errors;
    private bool _mailSmtpUtf8;
    private bool _closing;
    private string? _pendingCommand;
    private string _verb = "";
    private string _endReason = "quit";
    private CancellationToken _stopping;
    private CancellationToken _sessionToken;
    private CancellationTokenSource? _sessionTimeout;
    private CancellationTokenSource? _readTimeout;

    public SmtpSession(Stream stream, SmtpSessionContext context, ISmtpBackend backend, SmtpServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _transport = stream;
        _stream = stream;
        Context = context;
        _backend = backend;
        _options = options;
        _limits = options.Limits;
        _logger = logger ?? NullLogger.Instance;
        context.IsLmtp = options.Lmtp;
        context.IsForwardingAuthorized = ClientAddress.IsIn(context.RemoteEndPoint, options.AuthorizedForwarders);
        _input = CreateReader(stream);
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public SmtpSessionContext Context { get; }

    private string Name => _options.ServerName;

    /// <param name="stopping">Graceful stop: the session ends with 421 4.3.2 the next time it waits for a command.</param>
    public async Task RunAsync(CancellationToken stopping)
    {
        _stopping = stopping;
        using var sessionTimeout = new CancellationTokenSource(_limits.SessionTimeout);
        using var readTimeout = CancellationTokenSource.CreateLinkedTokenSource(stopping, sessionTimeout.Token);
        _sessionTimeout = sessionTimeout;
        _readTimeout = readTimeout;
        _sessionToken = sessionTimeout.Token;
        SmtpLog.SessionStarted(_logger, Context.SessionId, Context.RemoteEndPoint?.ToString());
        try
        {
            if (await OpenHandlerAsync().ConfigureAwait(false))
            {
                Reply(new SmtpReply(220, null, $"{Name} {(_options.Lmtp ? "LMTP" : "ESMTP")} Detach"));
                while (!_closing)
                {
                    // A command that ended a BDAT transfer is run now, after that transaction.
                    string? line = _pendingCommand ?? await ReadCommandAsync().ConfigureAwait(false);
                    _pendingCommand = null;
                    if (line is null)
                    {
                        break;
                    }

                    await DispatchAsync(line).ConfigureAwait(false);
                }
            }

            await _output.FlushAsync(_sessionToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (sessionTimeout.IsCancellationRequested)
        {
            _endReason = "session timeout";
            await TryCloseWithAsync(new SmtpReply(421, "4.4.2", $"{Name} Error: session timeout exceeded")).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or OperationCanceledException or AuthenticationException)
        {
            _endReason = "connection lost";
            SmtpLog.ConnectionLost(_logger, Context.SessionId, e);
        }
        finally
        {
            await EndTransactionAsync().ConfigureAwait(false);
            if (_handler is not null)
            {
                try
                {
                    await _handler.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    SmtpLog.BackendFailed(_logger, Context.SessionId, "session dispose", e);
                }
            }

            await CloseTransportAsync().ConfigureAwait(false);
            SmtpLog.SessionEnded(_logger, Context.SessionId, _endReason);
        }
    }

    private async ValueTask CloseTransportAsync()
    {
        try
        {
            await _input.CompleteAsync().ConfigureAwait(false);
            await _output.CompleteAsync().ConfigureAwait(false);
            if (!ReferenceEquals(_stream, _transport))
            {
                await _stream.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // Unsent replies to a client that is gone; the caller closes the socket anyway.
        }
    }

    private async ValueTask<bool> OpenHandlerAsync()
    {
        try
        {
            _handler = await _backend.OpenSessionAsync(Context, _sessionToken).ConfigureAwait(false);
            return true;
        }
        catch (SmtpException e)
        {
            Reply(e.Reply);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            SmtpLog.BackendFailed(_logger, Context.SessionId, "session open", e);
            Reply(new SmtpReply(421, "4.3.0", $"{Name} Service not available, try again later"));
        }

        _endReason = "refused by backend";
        return false;
    }

    // 64 KiB reads: message data arrives in as few receive calls (and acknowledgements) as the socket allows.
    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 65536, minimumReadSize: 16384, leaveOpen: true));

    // ---- reading commands ------------------------------------------------------------------------

    /// <summary>The next command line, or null when the session must end (the reason was already written).</summary>
    /// <param name="deadline">Between BDAT chunks: the message's deadline, which the wait is charged to.</param>
    private async ValueTask<string?> ReadCommandAsync(DataDeadline? deadline = null)
    {
        bool skipping = false;
        bool needMore = false;
        while (true)
        {
            ReadResult result;
            if (needMore || !_input.TryRead(out result))
            {
                // Nothing left to parse: this is where pipelined replies go out in one write.
                await _output.FlushAsync(_sessionToken).ConfigureAwait(false);
                ReadResult? read = await ReadWithTimeoutAsync(deadline).ConfigureAwait(false);
                if (read is null)
                {
                    return null;
                }

                result = read.Value;
            }

            needMore = false;
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (skipping)
            {
                bool done = SmtpCommandReader.SkipToLineEnd(ref buffer);
                _input.AdvanceTo(buffer.Start);
                if (done)
                {
                    skipping = false;
                    _verb = "(line)";
                    Error(new SmtpReply(500, "5.5.2", "Error: line too long"));
                    if (_closing)
                    {
                        return null;
                    }
                }
                else if (result.IsCompleted)
                {
                    return Lost();
                }
                else
                {
                    needMore = true;
                }

                continue;
            }

            switch (SmtpCommandReader.TryReadLine(ref buffer, _limits.MaxCommandLineLength, out ReadOnlySequence<byte> line))
            {
                case LineStatus.Complete:
                    string? text = Decode(line);
                    _input.AdvanceTo(buffer.Start);
                    if (text is not null)
                    {
                        return text;
                    }

                    _verb = "(line)";
                    Error(new SmtpReply(500, "5.5.2", "Error: bad UTF-8, NUL or CR in command"));
                    break;
                case LineStatus.TooLongComplete:
                    _input.AdvanceTo(buffer.Start);
                    _verb = "(line)";
                    Error(new SmtpReply(500, "5.5.2", "Error: line too long"));
                    break;
                case LineStatus.TooLongPartial:
                    _input.AdvanceTo(buffer.Start);
                    skipping = true;
                    needMore = true;
                    break;
                default:
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        return Lost();
                    }

                    needMore = true;
                    break;
            }

            if (_closing)
            {
                return null;
            }
        }
    }

    private string? Lost()
    {
        _endReason = "client closed without QUIT";
        return null;
    }

    private async ValueTask<ReadResult?> ReadWithTimeoutAsync(DataDeadline? deadline)
    {
        CancellationTokenSource timeout = _readTimeout!;
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            timeout.CancelAfter(deadline is null || deadline.Remaining > _limits.IdleTimeout ? _limits.IdleTimeout : deadline.Remaining);
            ReadResult result = await _input.ReadAsync(timeout.Token).ConfigureAwait(false);
            deadline?.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started), result.Buffer.Length);
            return result;
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            SmtpReply reply;
            if (_stopping.IsCancellationRequested)
            {
                _endReason = "shutdown";
                reply = new SmtpReply(421, "4.3.2", $"{Name} Service shutting down, closing transmission channel");
            }
            else if (_sessionTimeout!.IsCancellationRequested)
            {
                _endReason = "session timeout";
                reply = new SmtpReply(421, "4.4.2", $"{Name} Error: session timeout exceeded");
            }
            else
            {
                _endReason = deadline is null ? "idle timeout" : "data timeout between BDAT chunks";
                reply = new SmtpReply(421, "4.4.2", $"{Name} Error: timeout exceeded");
            }

            await TryCloseWithAsync(reply).ConfigureAwait(false);
            return null;
        }
        finally
        {
            timeout.TryReset();
        }
    }

    private async ValueTask TryCloseWithAsync(SmtpReply reply)
    {
        _closing = true;
        SmtpLog.SessionClosed(_logger, Context.SessionId, _endReason);
        try
        {
            Reply(reply);
            using var flushTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _output.FlushAsync(flushTimeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The client is gone or stuck; closing is all that is left.
        }
    }

    /// <summary>
    /// A command line as text, or null: strict UTF-8 without NUL or CR (a bare CR would be relayed to the next hop
    /// inside MAIL/RCPT, where it may read the line differently; found by fuzzing).
    /// </summary>
    internal static string? Decode(ReadOnlySequence<byte> line)
    {
        try
        {
            string text = StrictUtf8.GetString(line);
            return text.AsSpan().IndexOfAny('\0', '\r') >= 0 ? null : text;
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    // ---- replies -----------------------------------------------------------------------------------

    private void Reply(SmtpReply reply) => reply.WriteTo(_output);

    /// <summary>A protocol error: logged (one line, the reply, never the client's text), counted, and the session closes with 421 once there are too many.</summary>
    private void Error(SmtpReply reply, bool logged = false)
    {
        if (!logged)
        {
            SmtpLog.CommandRefused(_logger, Context.SessionId, _verb, reply.Code, reply.EnhancedCode, reply.Lines[0]);
        }

        Reply(reply);
        if (++_errors >= _limits.MaxErrors)
        {
            _closing = true;
            _endReason = "too many errors";
            SmtpLog.SessionClosed(_logger, Context.SessionId, _endReason);
            Reply(new SmtpReply(421, "4.7.0", $"{Name} Error: too many errors"));
        }
    }

    // ---- commands ------------------------------------------------------------------------------------

    private async ValueTask DispatchAsync(string line)
    {
        (string verb, string args) = SmtpCommandSyntax.SplitCommand(line);
        _verb = verb.Length <= 16 && !SmtpCommandSyntax.HasControl(verb) ? verb : "(unknown)";
        switch (verb)
        {
            case "EHLO" or "HELO" when !_options.Lmtp:
            case "LHLO" when _options.Lmtp:
                await HelloAsync(verb, args).ConfigureAwait(false);
                break;
            case "MAIL":
                await MailAsync(args).ConfigureAwait(false);
                break;
            case "RCPT":
                await RcptAsync(args).ConfigureAwait(false);
                break;
            case "DATA":
                await DataAsync(args).ConfigureAwait(false);
                break;
            case "BDAT" when _options.Chunking:
                await BdatAsync(args).ConfigureAwait(false);
                break;
            case "RSET":
                await EndTransactionAsync().ConfigureAwait(false);
                Reply(new SmtpReply(250, "2.0.0", "Ok"));
                break;
            case "NOOP":
                Reply(new SmtpReply(250, "2.0.0", "Ok"));
                break;
            case "QUIT":
                Reply(new SmtpReply(221, "2.0.0", "Bye"));
                _closing = true;
                break;
            case "VRFY":
                if (args.Length == 0)
                {
                    Error(new SmtpReply(501, "5.5.4", "Syntax: VRFY address"));
                }
                else
                {
                    Reply(new SmtpReply(252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"));
                }

                break;
            case "HELP":
                Reply(new SmtpReply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP"));
                break;
            case "STARTTLS":
                await StartTlsAsync(args).ConfigureAwait(false);
                break;
            case "XFORWARD":
                await XforwardAsync(args).ConfigureAwait(false);
                break;
            case "XCLIENT":
                await XclientAsync(args).ConfigureAwait(false);
                break;
            case "EXPN" or "ETRN" or "TURN" or "AUTH" or "BDAT":
                Error(new SmtpReply(502, "5.5.1", "Error: command not implemented"));
                break;
            default:
                Error(new SmtpReply(500, "5.5.2", "Error: command not recognized"));
                break;
        }
    }

    private async ValueTask HelloAsync(string verb, string args)
    {
        if (SmtpCommandSyntax.CheckHelloArgument(verb, args) is { } syntax)
        {
            Error(syntax);
            return;
        }

        await EndTransactionAsync().ConfigureAwait(false);
        Context.HeloName = args;
        Context.HeloVerb = verb;
        SmtpReply? custom = await CallBackendAsync("hello", cancellationToken => _handler!.HelloAsync(new HelloCommand(verb, args), cancellationToken)).ConfigureAwait(false);
        if (custom is not null)
        {
            if (!custom.IsPositiveCompletion)
            {
                Context.HeloName = null;
                Context.HeloVerb = null;
            }

            Reply(custom);
            return;
        }

        Reply(verb == "HELO" ? new SmtpReply(250, null, Name) : new SmtpReply(250, null, [Name, .. EhloKeywords.For(_options, Context)]));
    }

    private async ValueTask MailAsync(string args)
    {
        if (Context.HeloName is null)
        {
            Error(new SmtpReply(503, "5.5.1", $"Error: send {(_options.Lmtp ? "LHLO" : "HELO/EHLO")} first"));
            return;
        }

        if (_transaction is not null)
        {
            Error(new SmtpReply(503, "5.5.1", "Error: nested MAIL command"));
            return;
        }

        if ((SmtpCommandSyntax.TryParseMail(args, out MailFromCommand mail)
            ?? EnvelopeParameters.CheckMail(mail, _limits.MaxMessageSize, _options.Dsn)) is { } refusal)
        {
            Refuse(refusal);
            return;
        }

        MailResult? result = null;
        SmtpReply? failure = await CallBackendAsync("MAIL", async cancellationToken =>
        {
            result = await _handler!.BeginTransactionAsync(mail, cancellationToken).ConfigureAwait(false);
            return null;
        }).ConfigureAwait(false);
        if (failure is not null || result is null)
        {
            Reply(failure ?? TryLater);
            return;
        }

        _transaction = result.Transaction;
        _mailSmtpUtf8 = mail.SmtpUtf8;
        _recipients = 0;
        _accepted = 0;
        Reply(result.Reply);
    }

    private async ValueTask RcptAsync(string args)
    {
        if (_transaction is null)
        {
            Error(new SmtpReply(503, "5.5.1", "Error: need MAIL command"));
            return;
        }

        if ((SmtpCommandSyntax.TryParseRcpt(args, out RcptToCommand rcpt)
            ?? EnvelopeParameters.CheckRcpt(rcpt, _options.Dsn, _mailSmtpUtf8)) is { } refusal)
        {
            Refuse(refusal);
            return;
        }

        if (_recipients >= _limits.MaxRecipients)
        {
            Reply(new SmtpReply(452, "4.5.3", "Error: too many recipients"));
            return;
        }

        _recipients++;
        ISmtpTransaction transaction = _transaction;
        SmtpReply reply = await CallBackendReplyAsync("RCPT", cancellationToken => transaction.AddRecipientAsync(rcpt, cancellationToken)).ConfigureAwait(false) ?? TryLater;
        if (reply.IsPositiveCompletion)
        {
            _accepted++;
        }

        Reply(reply);
    }

    /// <summary>A refused argument: a syntax error (501, 555) counts as a protocol error, a policy refusal is just the reply.</summary>
    private void Refuse(SmtpReply reply)
    {
        if (reply.Code is 501 or 555)
        {
            Error(reply);
        }
        else
        {
            Reply(reply);
        }
    }

    private async ValueTask DataAsync(string args)
    {
        if (_transaction is null)
        {
            Error(new SmtpReply(503, "5.5.1", "Error: need RCPT command"));
            return;
        }

        if (args.Length > 0)
        {
            Error(new SmtpReply(501, "5.5.4", "Syntax: DATA"));
            return;
        }

        if (_accepted == 0)
        {
            Reply(new SmtpReply(554, "5.5.1", "Error: no valid recipients"));
            return;
        }

        Reply(new SmtpReply(354, null, "End data with <CR><LF>.<CR><LF>"));
        await _output.FlushAsync(_sessionToken).ConfigureAwait(false);
        using var message = new DotReader(_input, _limits.MaxMessageSize, _limits.MaxTextLineLength, _limits.NewDataDeadline(), _sessionToken);
        await ReceiveMessageAsync(_transaction, message).ConfigureAwait(false);
    }

    /// <summary>
    /// BDAT (RFC 3030, CHUNKING). The chunk's octets follow the command whatever the reply, so a refused BDAT still
    /// reads and drops them; the first accepted one hands the backend a <see cref="BdatReader"/> that runs through
    /// the following BDAT commands up to LAST. A count that cannot be read leaves no way to find the next command:
    /// 501, and the connection closes.
    /// </summary>
    private async ValueTask BdatAsync(string args)
    {
        if (!BdatChunk.TryParse(args, out BdatChunk chunk))
        {
            MalformedBdat();
            return;
        }

        if (_transaction is null || _accepted == 0)
        {
            // Read as a last chunk, so that no further command is taken for it.
            using (var skipped = new BdatReader(_input, chunk with { Last = true }, long.MaxValue, _limits.NewDataDeadline(), _sessionToken,
                static (_, _) => ValueTask.FromResult<BdatChunk?>(null)))
            {
                try
                {
                    await skipped.DrainAsync(_sessionToken).ConfigureAwait(false);
                }
                catch (Exception) when (skipped.IsBroken)
                {
                    await EndBrokenMessageAsync(skipped).ConfigureAwait(false);
                    return;
                }
            }

            if (_transaction is null)
            {
                Error(new SmtpReply(503, "5.5.1", "Error: need RCPT command"));
            }
            else
            {
                Reply(new SmtpReply(554, "5.5.1", "Error: no valid recipients"));
            }

            return;
        }

        DataDeadline deadline = _limits.NewDataDeadline();
        using var message = new BdatReader(_input, chunk, _limits.MaxMessageSize, deadline, _sessionToken,
            (finished, cancellationToken) => NextBdatChunkAsync(finished, deadline, cancellationToken));
        await ReceiveMessageAsync(_transaction!, message).ConfigureAwait(false);
    }

    private void MalformedBdat()
    {
        Reply(new SmtpReply(501, "5.5.4", "Syntax: BDAT count [LAST]"));
        Reply(new SmtpReply(421, "4.7.0", $"{Name} Error: cannot find the end of a malformed BDAT chunk"));
        _closing = true;
        _endReason = "malformed BDAT";
    }

    /// <summary>Answers a BDAT chunk the backend has read, then reads the next command: its chunk if it is BDAT, else null.</summary>
    private async ValueTask<BdatChunk?> NextBdatChunkAsync(long finishedChunk, DataDeadline deadline, CancellationToken cancellationToken)
    {
        Reply(new SmtpReply(250, "2.0.0", $"Ok: {finishedChunk} octets"));
        string? line = await ReadCommandAsync(deadline).ConfigureAwait(false);
        if (line is null)
        {
            throw new IOException("The session ended between BDAT chunks.");
        }

        if (line.Length > 5 && line.StartsWith("BDAT ", StringComparison.OrdinalIgnoreCase))
        {
            if (BdatChunk.TryParse(line[5..].Trim(' '), out BdatChunk chunk))
            {
                return chunk;
            }

            MalformedBdat();
            throw new IOException("Malformed BDAT command.");
        }

        _pendingCommand = line;
        return null;
    }

    /// <summary>
    /// Hands the message to the backend, then always reads to its end before answering (the client waits for the reply
    /// only after sending everything), with the backend's replies, the limit's reply, or none when the connection broke.
    /// </summary>
    private async ValueTask ReceiveMessageAsync(ISmtpTransaction transaction, SmtpMessageReader message)
    {
        IReadOnlyList<SmtpReply> replies;
        try
        {
            replies = await CallDataAsync(transaction, message).ConfigureAwait(false);
            if (!message.IsBroken)
            {
                await message.DrainAsync(_sessionToken).ConfigureAwait(false);
            }
        }
        catch (Exception) when (message.IsBroken)
        {
            // Reported below.
            replies = [];
        }

        if (message is BdatReader { Abandoned: true })
        {
            // The client sent another command instead of the next chunk: no message, and no reply owed for it.
            await EndTransactionAsync().ConfigureAwait(false);
            return;
        }

        if (message.IsBroken)
        {
            await EndBrokenMessageAsync(message).ConfigureAwait(false);
            return;
        }

        if (message.LimitError is { } limit)
        {
            replies = Repeat(limit);
        }

        SmtpLog.DataDone(_logger, Context.SessionId, replies[0].Code, message.MessageSize);
        await EndTransactionAsync().ConfigureAwait(false);
        foreach (SmtpReply reply in replies)
        {
            Reply(reply);
        }
    }

    /// <summary>The client went away or stalled in the middle of a message: no reply for it, and the session ends.</summary>
    private async ValueTask EndBrokenMessageAsync(SmtpMessageReader message)
    {
        await EndTransactionAsync().ConfigureAwait(false);
        if (message.TimedOut)
        {
            _endReason = "data timeout";
            await TryCloseWithAsync(new SmtpReply(421, "4.4.2", $"{Name} Error: timeout exceeded")).ConfigureAwait(false);
        }
        else if (!_closing)
        {
            _closing = true;
            _endReason = "connection lost in DATA";
        }
    }

    private async ValueTask<IReadOnlyList<SmtpReply>> CallDataAsync(ISmtpTransaction transaction, SmtpMessageReader message)
    {
        try
        {
            if (_options.Lmtp && transaction is ILmtpTransaction lmtp)
            {
                IReadOnlyList<SmtpReply> replies = await lmtp.LmtpDataAsync(message, _sessionToken).ConfigureAwait(false);
                if (replies.Count == _accepted)
                {
                    return replies;
                }

                SmtpLog.BackendFailed(_logger, Context.SessionId, "LMTP DATA", new InvalidOperationException($"{replies.Count} replies for {_accepted} recipients."));
                return Repeat(TryLater);
            }

            return Repeat(await transaction.DataAsync(message, _sessionToken).ConfigureAwait(false));
        }
        catch (SmtpException e) when (!message.IsBroken)
        {
            return Repeat(e.Reply);
        }
        catch (Exception e) when (!message.IsBroken && !(e is OperationCanceledException && _sessionToken.IsCancellationRequested))
        {
            if (message is not BdatReader { Abandoned: true })
            {
                SmtpLog.BackendFailed(_logger, Context.SessionId, "DATA", e);
            }

            return Repeat(TryLater);
        }
    }

    private SmtpReply[] Repeat(SmtpReply reply) => Enumerable.Repeat(reply, _options.Lmtp ? _accepted : 1).ToArray();

    private static SmtpReply TryLater { get; } = new(451, "4.3.0", "Error: queue file write error, try again later");

    /// <summary>Calls the backend; SmtpException gives its reply, anything else 451 4.3.0.</summary>
    private async ValueTask<SmtpReply?> CallBackendAsync(string stage, Func<CancellationToken, ValueTask<SmtpReply?>> call)
    {
        try
        {
            return await call(_sessionToken).ConfigureAwait(false);
        }
        catch (SmtpException e)
        {
            return e.Reply;
        }
        catch (Exception e) when (!(e is OperationCanceledException && _sessionToken.IsCancellationRequested))
        {
            SmtpLog.BackendFailed(_logger, Context.SessionId, stage, e);
            return TryLater;
        }
    }

    private async ValueTask<SmtpReply?> CallBackendReplyAsync(string stage, Func<CancellationToken, ValueTask<SmtpReply>> call) =>
        await CallBackendAsync(stage, async cancellationToken => (SmtpReply?)await call(cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    private async ValueTask EndTransactionAsync()
    {
        Context.ClearForwarded();
        ISmtpTransaction? transaction = _transaction;
        _transaction = null;
        _recipients = 0;
        _accepted = 0;
        if (transaction is null)
        {
            return;
        }

        try
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SmtpLog.BackendFailed(_logger, Context.SessionId, "transaction dispose", e);
        }
    }

    private async ValueTask StartTlsAsync(string args)
    {
        if (_options.Certificate is null)
        {
            Error(new SmtpReply(502, "5.5.1", "Error: command not implemented"));
            return;
        }

        if (Context.IsTls)
        {
            Error(new SmtpReply(554, "5.5.1", "Error: TLS already active"));
            return;
        }

        if (args.Length > 0)
        {
            Error(new SmtpReply(501, "5.5.4", "Syntax: STARTTLS"));
            return;
        }

        Reply(new SmtpReply(220, "2.0.0", "Ready to start TLS"));
        await _output.FlushAsync(_sessionToken).ConfigureAwait(false);

        // Whatever the client pipelined after STARTTLS arrived in clear text before the handshake: drop it
        // (RFC 3207 section 6, the STARTTLS command injection of CVE-2011-0411).
        await _input.CompleteAsync().ConfigureAwait(false);
        await _output.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_transport, leaveInnerStreamOpen: true);
        _stream = tls;
        using (var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(_sessionToken))
        {
            handshakeTimeout.CancelAfter(_limits.IdleTimeout);
            try
            {
                await tls.AuthenticateAsServerAsync(
                    new SslServerAuthenticationOptions { ServerCertificate = _options.Certificate, ClientCertificateRequired = false },
                    handshakeTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
            {
                SmtpLog.TlsFailed(_logger, Context.SessionId, e);
                _input = CreateReader(Stream.Null);
                _output = PipeWriter.Create(Stream.Null);
                _closing = true;
                _endReason = "TLS handshake failed";
                return;
            }
        }

        _input = CreateReader(tls);
        _output = PipeWriter.Create(tls, new StreamPipeWriterOptions(leaveOpen: true));
        Context.IsTls = true;
        Context.HeloName = null;
        Context.HeloVerb = null;
        await EndTransactionAsync().ConfigureAwait(false);
    }

    private async ValueTask XforwardAsync(string args)
    {
        if (CheckForwarding("XFORWARD", args, out List<KeyValuePair<string, string>> attributes))
        {
            foreach ((string name, string value) in attributes)
            {
                Context.SetForwarded(name, value);
            }

            SmtpReply? custom = await CallBackendAsync("XFORWARD", cancellationToken => _handler!.ForwardAsync(Context, cancellationToken)).ConfigureAwait(false);
            Reply(custom ?? new SmtpReply(250, "2.0.0", "Ok"));
        }
    }

    private async ValueTask XclientAsync(string args)
    {
        if (!CheckForwarding("XCLIENT", args, out List<KeyValuePair<string, string>> attributes))
        {
            return;
        }

        foreach ((string name, string value) in attributes)
        {
            Context.SetClient(name, value);
        }

        SmtpReply? custom = await CallBackendAsync("XCLIENT", cancellationToken => _handler!.ForwardAsync(Context, cancellationToken)).ConfigureAwait(false);
        if (custom is not null && !custom.IsPositiveCompletion)
        {
            Reply(custom);
            return;
        }

        // XCLIENT restarts the session as if the named client had connected: new greeting, new HELO.
        Context.HeloName = null;
        Context.HeloVerb = null;
        Reply(new SmtpReply(220, null, $"{Name} {(_options.Lmtp ? "LMTP" : "ESMTP")} Detach"));
    }

    /// <summary>Authorisation, session state, then the attributes' syntax; false when refused (the reply is written).</summary>
    private bool CheckForwarding(string command, string args, out List<KeyValuePair<string, string>> attributes)
    {
        attributes = [];
        if (!Context.IsForwardingAuthorized)
        {
            SmtpLog.ForwardRefused(_logger, Context.SessionId, command, Context.RemoteEndPoint?.ToString());
            Error(new SmtpReply(550, "5.7.0", "Error: insufficient authorization"), logged: true);
            return false;
        }

        if (_transaction is not null)
        {
            Error(new SmtpReply(503, "5.5.1", "Error: MAIL transaction in progress"));
            return false;
        }

        if (command == "XFORWARD" && Context.HeloName is null)
        {
            Error(new SmtpReply(503, "5.5.1", $"Error: send {(_options.Lmtp ? "LHLO" : "HELO/EHLO")} first"));
            return false;
        }

        if (ForwardingAttributes.TryParse(command, args, out attributes) is { } syntax)
        {
            Error(syntax);
            return false;
        }

        return true;
    }
}
