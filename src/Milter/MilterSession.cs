using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Milter;

/// <summary>
/// One MTA connection: option negotiation, then the events of any number of SMTP connections and messages, until
/// SMFIC_QUIT or the MTA closes. Frames are cut from whatever is buffered before more is read; each reply is flushed
/// at once (the MTA waits for it). While the handler works at end of message, a read stays open so that an MTA that
/// gives up is noticed (the work is cancelled), and SMFIR_PROGRESS keeps the MTA's timer from running out. Any
/// protocol error ends this connection only; the caller owns the transport.
/// </summary>
public sealed class MilterSession
{
    private static readonly MilterVerdict HandlerFailedVerdict =
        MilterVerdict.Reply(451, "4.3.0", "Temporary failure in the attachment filter, try again later");

    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly MilterContext _context;
    private readonly IMilterBackend _backend;
    private readonly MilterServerOptions _options;
    private readonly ILogger _logger;
    private CancellationTokenSource _readTimeout = new();
    private readonly CancellationTokenSource _writeTimeout = new();
    private CancellationToken _stopping;
    private IMilterHandler? _handler;
    private MilterNegotiated _agreed = new(MilterNegotiation.Version, MilterActions.None, MilterProtocolOptions.None, MilterNegotiation.DefaultMaxDataSize);

    // The frame being handled: its bytes stay in the pipe until Release().
    private MilterFrame _frame;
    private SequencePosition _frameEnd;
    private bool _holding;

    // The read left open while the handler worked at end of message: it becomes the next frame's read.
    private Task<ReadResult>? _pendingRead;

    private int _headers;
    private bool _messageFailed;
    private bool _macrosWarned;
    private byte[]? _scratch;
    private string _endReason = "quit";

    public MilterSession(PipeReader input, PipeWriter output, MilterContext context, IMilterBackend backend, MilterServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this._input = input;
        this._output = output;
        this._context = context;
        this._backend = backend;
        this._options = options;
        this._logger = logger ?? NullLogger.Instance;
    }

    public MilterContext Context => _context;

    /// <summary>Why the session ended, once <see cref="RunAsync"/> returned.</summary>
    public string EndReason => _endReason;

    /// <param name="stopping">Graceful stop: the session ends the next time it waits for the MTA.</param>
    public async Task RunAsync(CancellationToken stopping)
    {
        this._stopping = stopping;
        _readTimeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        MilterLog.SessionStarted(_logger, _context.SessionId, _context.RemoteEndPoint?.ToString());
        try
        {
            while (await NextFrameAsync().ConfigureAwait(false))
            {
                bool more = await DispatchAsync().ConfigureAwait(false);
                Release();
                if (!more)
                {
                    break;
                }
            }
        }
        catch (MilterProtocolException e)
        {
            _endReason = "protocol error";
            MilterLog.ProtocolError(_logger, _context.SessionId, e.Message);
        }
        catch (OperationCanceledException) when (_readTimeout.IsCancellationRequested || _writeTimeout.IsCancellationRequested)
        {
            _endReason = stopping.IsCancellationRequested ? "shutdown" : _writeTimeout.IsCancellationRequested ? "the MTA stopped reading" : "idle timeout";
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            _endReason = "connection lost";
            MilterLog.ConnectionLost(_logger, _context.SessionId, e);
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
            MilterLog.SessionEnded(_logger, _context.SessionId, _endReason);
        }
    }

    private async ValueTask CloseAsync()
    {
        if (_handler is not null)
        {
            try
            {
                await _handler.AbortAsync(CancellationToken.None).ConfigureAwait(false);
                await _handler.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                MilterLog.HandlerFailed(_logger, _context.SessionId, "close", e);
            }
        }

        try
        {
            if (_pendingRead is not null)
            {
                _input.CancelPendingRead();
                await ((Task)_pendingRead).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await _input.CompleteAsync().ConfigureAwait(false);
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // Unsent bytes to an MTA that is gone; the caller closes the socket anyway.
        }

        _readTimeout.Dispose();
        _writeTimeout.Dispose();
    }

    // ---- frames ---------------------------------------------------------------------------------

    /// <summary>Reads until one whole frame is buffered; false when the MTA closed the connection between frames.</summary>
    private async ValueTask<bool> NextFrameAsync()
    {
        while (true)
        {
            ReadResult result;
            if (_pendingRead is { } pending)
            {
                _pendingRead = null;
                result = await pending.ConfigureAwait(false);
                _readTimeout.TryReset();
            }
            else if (!_input.TryRead(out result))
            {
                _readTimeout.CancelAfter(_options.IdleTimeout);
                result = await _input.ReadAsync(_readTimeout.Token).ConfigureAwait(false);
                _readTimeout.TryReset();
            }

            var buffer = result.Buffer;
            switch (MilterFrameReader.TryRead(buffer, _options.MaxFrameLength, out _frame, out _frameEnd, out long length))
            {
                case MilterFrameStatus.Complete:
                    _holding = true;
                    return true;
                case MilterFrameStatus.Invalid:
                    _input.AdvanceTo(buffer.Start);
                    throw new MilterProtocolException(length == 0
                        ? "the MTA sent a frame of length 0"
                        : $"the MTA announced a frame of {length} bytes, over the limit of {_options.MaxFrameLength}");
                default:
                    _input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        if (!buffer.IsEmpty)
                        {
                            throw new MilterProtocolException($"the MTA closed the connection inside a frame ({buffer.Length} bytes of it came)");
                        }

                        _endReason = _handler is null ? "closed before negotiation" : "MTA closed the connection";
                        return false;
                    }

                    break;
            }
        }
    }

    /// <summary>Lets the pipe reuse the current frame's bytes.</summary>
    private void Release()
    {
        if (_holding)
        {
            _holding = false;
            _input.AdvanceTo(_frameEnd);
        }
    }

    private async ValueTask FlushAsync()
    {
        _writeTimeout.CancelAfter(_options.IdleTimeout);
        var flushed = await _output.FlushAsync(_writeTimeout.Token).ConfigureAwait(false);
        _writeTimeout.TryReset();
        if (flushed.IsCompleted)
        {
            throw new IOException("The MTA stopped reading.");
        }
    }

    private ValueTask ReplyAsync(MilterVerdict verdict)
    {
        if (verdict.SmtpReply is { } reply)
        {
            MilterFrameWriter.WriteReplyCode(_output, reply);
        }
        else
        {
            MilterFrameWriter.Write(_output, (byte)verdict.Code);
        }

        return FlushAsync();
    }

    /// <summary>"Continue", unless the agreement says the MTA expects no reply to this event.</summary>
    private ValueTask ContinueUnlessAsync(MilterProtocolOptions noReply) =>
        _agreed.Has(noReply) ? ValueTask.CompletedTask : ReplyAsync(MilterVerdict.Continue);

    // ---- events ---------------------------------------------------------------------------------

    /// <summary>Handles the current frame; false ends the session.</summary>
    private async ValueTask<bool> DispatchAsync()
    {
        var data = _frame.Data;
        if (_handler is null && _frame.Code != (byte)MilterCommand.OptionNegotiation)
        {
            throw new MilterProtocolException($"the MTA sent '{(char)_frame.Code}' before option negotiation");
        }

        switch ((MilterCommand)_frame.Code)
        {
            case MilterCommand.OptionNegotiation:
                await NegotiateAsync(data).ConfigureAwait(false);
                return true;
            case MilterCommand.Macro:
                if (data.IsEmpty)
                {
                    throw new MilterProtocolException("a macro frame without its command code");
                }

                _context.Macros.Set(data.FirstSpan[0], data.Slice(1));
                if (_context.Macros.Truncated && !_macrosWarned)
                {
                    _macrosWarned = true;
                    MilterLog.MacrosTruncated(_logger, _context.SessionId, _options.MaxMacrosPerStage);
                }

                return true;
            case MilterCommand.Connect:
                _context.Macros.ClearFrom(MilterCommand.Helo);
                _context.Client = MilterEventData.Client(data);
                MilterLog.Client(_logger, _context.SessionId, _context.Client.HostName, _context.Client.Address);
                await Unanswered("connect", () => _handler!.ConnectAsync(_stopping), evenAfterFailure: true).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoConnectReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Helo:
                _context.Macros.ClearFrom(MilterCommand.Mail);
                await ContinueUnlessAsync(MilterProtocolOptions.NoHeloReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Mail:
                _context.Macros.ClearFrom(MilterCommand.Recipient);
                _messageFailed = false;
                _headers = 0;
                await Unanswered("MAIL", () => _handler!.MailAsync(MilterEventData.Address(data), _stopping)).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoMailReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Recipient:
                _context.Macros.ClearFrom(MilterCommand.Data);
                await Unanswered("RCPT", () => _handler!.RecipientAsync(MilterEventData.Address(data), _stopping)).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoRecipientReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Data:
                await ContinueUnlessAsync(MilterProtocolOptions.NoDataReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Unknown:
                await ContinueUnlessAsync(MilterProtocolOptions.NoUnknownReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Header:
                await HeaderAsync(data).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoHeaderReply).ConfigureAwait(false);
                return true;
            case MilterCommand.EndOfHeaders:
                await ReplyAsync(await EndOfHeadersAsync().ConfigureAwait(false)).ConfigureAwait(false);
                return true;
            case MilterCommand.Body:
                await Unanswered("body", () => _handler!.BodyAsync(data, _stopping)).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoBodyReply).ConfigureAwait(false);
                return true;
            case MilterCommand.EndOfBody:
                if (!data.IsEmpty)
                {
                    // Libmilter's MTA side may send the last chunk with the end of the message.
                    await Unanswered("body", () => _handler!.BodyAsync(data, _stopping)).ConfigureAwait(false);
                }

                return await EndOfMessageAsync().ConfigureAwait(false);
            case MilterCommand.Abort:
                await Unanswered("abort", () => _handler!.AbortAsync(_stopping), evenAfterFailure: true).ConfigureAwait(false);
                _messageFailed = false;
                return true;
            case MilterCommand.QuitNewConnection:
                await Unanswered("abort", () => _handler!.AbortAsync(_stopping), evenAfterFailure: true).ConfigureAwait(false);
                _context.Macros.ClearFrom(MilterCommand.Connect);
                _context.Client = null;
                _messageFailed = false;
                return true;
            case MilterCommand.Quit:
                _endReason = "quit";
                return false;
            default:
                throw new MilterProtocolException($"unknown command 0x{_frame.Code:x2} ('{(char)_frame.Code}')");
        }
    }

    private async ValueTask NegotiateAsync(ReadOnlySequence<byte> offer)
    {
        var (agreement, answer) = MilterNegotiation.Negotiate(offer, _options.RequiredActions, _options.MaxFrameLength, _options.MacroRequests.AsReadOnly());
        _agreed = agreement;
        _context.Negotiated = agreement;
        MilterLog.Negotiated(_logger, _context.SessionId, _agreed.Version, _agreed.Actions, _agreed.Options, _agreed.MaxDataSize);
        _output.Write(answer);
        await FlushAsync().ConfigureAwait(false);
        _handler ??= await _backend.OpenAsync(_context, _stopping).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs an event the MTA expects no verdict for, unless the message failed already; a failure fails the message
    /// instead of the connection.
    /// </summary>
    private async ValueTask Unanswered(string stage, Func<ValueTask> call, bool evenAfterFailure = false)
    {
        if (_messageFailed && !evenAfterFailure)
        {
            return;
        }

        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            _messageFailed = true;
            MilterLog.HandlerFailed(_logger, _context.SessionId, stage, e);
        }
    }

    private async ValueTask HeaderAsync(ReadOnlySequence<byte> data)
    {
        if (++_headers > _options.MaxHeaders)
        {
            return;
        }

        var (name, value) = MilterEventData.Header(Contiguous(data));
        if (!_agreed.Has(MilterProtocolOptions.HeaderLeadingSpace))
        {
            // The MTA ate the space after the colon; the handler always sees the value as written.
            value = (byte[])[(byte)' ', .. value.Span];
        }

        await Unanswered("header", () => _handler!.HeaderAsync(name, value, _stopping)).ConfigureAwait(false);
    }

    private async ValueTask<MilterVerdict> EndOfHeadersAsync()
    {
        if (_messageFailed)
        {
            return HandlerFailedVerdict;
        }

        try
        {
            return await _handler!.EndOfHeadersAsync(_headers <= _options.MaxHeaders, _stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            MilterLog.HandlerFailed(_logger, _context.SessionId, "end of headers", e);
            _messageFailed = true;
            return HandlerFailedVerdict;
        }
    }

    /// <summary>
    /// End of message: runs the handler with a read open on the MTA, sends progress while it works, then the header
    /// edits, the new body in chunks of the agreed size, and the verdict. False when the MTA went away meanwhile.
    /// </summary>
    private async ValueTask<bool> EndOfMessageAsync()
    {
        Release();
        if (_messageFailed)
        {
            await ReplyAsync(HandlerFailedVerdict).ConfigureAwait(false);
            return true;
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        var work = _handler!.EndOfMessageAsync(cancel.Token);
        if (!work.IsCompleted && !await WatchAsync(work, cancel).ConfigureAwait(false))
        {
            _endReason = "MTA closed the connection during end of message";
            return false;
        }

        MilterMessageResult result;
        try
        {
            result = await work.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            MilterLog.HandlerFailed(_logger, _context.SessionId, "end of message", e);
            await ReplyAsync(HandlerFailedVerdict).ConfigureAwait(false);
            return true;
        }

        await using (result.ConfigureAwait(false))
        {
            await SendAsync(result).ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Waits for <paramref name="work"/>, sending progress; false (work cancelled) when the MTA closes meanwhile.</summary>
    private async Task<bool> WatchAsync(Task work, CancellationTokenSource cancel)
    {
        // No idle limit while we are the ones working; the read gets it back once we answered.
        _readTimeout.CancelAfter(Timeout.InfiniteTimeSpan);
        var watch = _input.ReadAsync(_readTimeout.Token).AsTask();
        _pendingRead = watch;
        using var ticks = new PeriodicTimer(_options.ProgressInterval);
        var tick = ticks.WaitForNextTickAsync().AsTask();
        Task[] waits = [work, watch, tick];
        while (!work.IsCompleted)
        {
            var done = await Task.WhenAny(waits).ConfigureAwait(false);
            if (done == tick)
            {
                if (_agreed.Version >= 6)
                {
                    MilterFrameWriter.Write(_output, (byte)MilterReply.Progress);
                    await FlushAsync().ConfigureAwait(false);
                }

                waits[2] = tick = ticks.WaitForNextTickAsync().AsTask();
            }
            else if (done == watch)
            {
                bool gone = watch.IsFaulted || (watch.IsCompletedSuccessfully && watch.Result is { IsCompleted: true, Buffer.IsEmpty: true });
                if (gone)
                {
                    await cancel.CancelAsync().ConfigureAwait(false);
                    await work.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    return false;
                }

                // Bytes before our answer (a protocol slip) or a stop: leave them for the next frame, stop watching.
                waits[1] = work;
            }
        }

        _readTimeout.CancelAfter(_options.IdleTimeout);
        return true;
    }

    private async ValueTask SendAsync(MilterMessageResult result)
    {
        bool leadingSpace = _agreed.Has(MilterProtocolOptions.HeaderLeadingSpace);
        foreach (var edit in result.HeaderEdits)
        {
            MilterFrameWriter.WriteHeaderEdit(_output, edit, leadingSpace);
        }

        if (result.ReplacementBody is { } body)
        {
            // Every chunk fits the agreed size (Postfix refuses more than 64 KiB − 1); the output is flushed now and
            // then so a large body never piles up in the pipe.
            long unflushed = 0;
            while (true)
            {
                var memory = _output.GetMemory(MilterFrameReader.LengthBytes + 1 + _agreed.MaxDataSize);
                int read = await body.ReadAsync(memory.Slice(MilterFrameReader.LengthBytes + 1, _agreed.MaxDataSize), _stopping).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                BinaryPrimitives.WriteUInt32BigEndian(memory.Span, (uint)(read + 1));
                memory.Span[MilterFrameReader.LengthBytes] = (byte)MilterReply.ReplaceBody;
                _output.Advance(MilterFrameReader.LengthBytes + 1 + read);
                if ((unflushed += read) >= 256 * 1024)
                {
                    unflushed = 0;
                    await FlushAsync().ConfigureAwait(false);
                }
            }
        }

        await ReplyAsync(result.Verdict).ConfigureAwait(false);
    }

    /// <summary>The frame's data in one piece (a copy when the pipe split it).</summary>
    private ReadOnlyMemory<byte> Contiguous(ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment)
        {
            return data.First;
        }

        if (_scratch is null || _scratch.Length < data.Length)
        {
            _scratch = new byte[Math.Max(data.Length, 4096)];
        }

        data.CopyTo(_scratch);
        return _scratch.AsMemory(0, (int)data.Length);
    }
}
