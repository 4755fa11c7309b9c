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

    private readonly PipeReader input;
    private readonly PipeWriter output;
    private readonly MilterContext context;
    private readonly IMilterBackend backend;
    private readonly MilterServerOptions options;
    private readonly ILogger logger;
    private CancellationTokenSource readTimeout = new();
    private readonly CancellationTokenSource writeTimeout = new();
    private CancellationToken stopping;
    private IMilterHandler? handler;
    private MilterNegotiated agreed = new(MilterNegotiation.Version, MilterActions.None, MilterProtocolOptions.None, MilterNegotiation.DefaultMaxDataSize);

    // The frame being handled: its bytes stay in the pipe until Release().
    private MilterFrame frame;
    private SequencePosition frameEnd;
    private bool holding;

    // The read left open while the handler worked at end of message: it becomes the next frame's read.
    private Task<ReadResult>? pendingRead;

    private int headers;
    private bool messageFailed;
    private bool macrosWarned;
    private byte[]? scratch;
    private string endReason = "quit";

    public MilterSession(PipeReader input, PipeWriter output, MilterContext context, IMilterBackend backend, MilterServerOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.input = input;
        this.output = output;
        this.context = context;
        this.backend = backend;
        this.options = options;
        this.logger = logger ?? NullLogger.Instance;
    }

    public MilterContext Context => context;

    /// <summary>Why the session ended, once <see cref="RunAsync"/> returned.</summary>
    public string EndReason => endReason;

    /// <param name="stopping">Graceful stop: the session ends the next time it waits for the MTA.</param>
    public async Task RunAsync(CancellationToken stopping)
    {
        this.stopping = stopping;
        readTimeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        MilterLog.SessionStarted(logger, context.SessionId, context.RemoteEndPoint?.ToString());
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
            endReason = "protocol error";
            MilterLog.ProtocolError(logger, context.SessionId, e.Message);
        }
        catch (OperationCanceledException) when (readTimeout.IsCancellationRequested || writeTimeout.IsCancellationRequested)
        {
            endReason = stopping.IsCancellationRequested ? "shutdown" : writeTimeout.IsCancellationRequested ? "the MTA stopped reading" : "idle timeout";
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            endReason = "connection lost";
            MilterLog.ConnectionLost(logger, context.SessionId, e);
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
            MilterLog.SessionEnded(logger, context.SessionId, endReason);
        }
    }

    private async ValueTask CloseAsync()
    {
        if (handler is not null)
        {
            try
            {
                await handler.AbortAsync(CancellationToken.None).ConfigureAwait(false);
                await handler.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                MilterLog.HandlerFailed(logger, context.SessionId, "close", e);
            }
        }

        try
        {
            if (pendingRead is not null)
            {
                input.CancelPendingRead();
                await ((Task)pendingRead).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            await input.CompleteAsync().ConfigureAwait(false);
            await output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            // Unsent bytes to an MTA that is gone; the caller closes the socket anyway.
        }

        readTimeout.Dispose();
        writeTimeout.Dispose();
    }

    // ---- frames ---------------------------------------------------------------------------------

    /// <summary>Reads until one whole frame is buffered; false when the MTA closed the connection between frames.</summary>
    private async ValueTask<bool> NextFrameAsync()
    {
        while (true)
        {
            ReadResult result;
            if (pendingRead is { } pending)
            {
                pendingRead = null;
                result = await pending.ConfigureAwait(false);
                readTimeout.TryReset();
            }
            else if (!input.TryRead(out result))
            {
                readTimeout.CancelAfter(options.IdleTimeout);
                result = await input.ReadAsync(readTimeout.Token).ConfigureAwait(false);
                readTimeout.TryReset();
            }

            var buffer = result.Buffer;
            switch (MilterFrameReader.TryRead(buffer, options.MaxFrameLength, out frame, out frameEnd, out long length))
            {
                case MilterFrameStatus.Complete:
                    holding = true;
                    return true;
                case MilterFrameStatus.Invalid:
                    input.AdvanceTo(buffer.Start);
                    throw new MilterProtocolException(length == 0
                        ? "the MTA sent a frame of length 0"
                        : $"the MTA announced a frame of {length} bytes, over the limit of {options.MaxFrameLength}");
                default:
                    input.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted || result.IsCanceled)
                    {
                        if (!buffer.IsEmpty)
                        {
                            throw new MilterProtocolException($"the MTA closed the connection inside a frame ({buffer.Length} bytes of it came)");
                        }

                        endReason = handler is null ? "closed before negotiation" : "MTA closed the connection";
                        return false;
                    }

                    break;
            }
        }
    }

    /// <summary>Lets the pipe reuse the current frame's bytes.</summary>
    private void Release()
    {
        if (holding)
        {
            holding = false;
            input.AdvanceTo(frameEnd);
        }
    }

    private async ValueTask FlushAsync()
    {
        writeTimeout.CancelAfter(options.IdleTimeout);
        var flushed = await output.FlushAsync(writeTimeout.Token).ConfigureAwait(false);
        writeTimeout.TryReset();
        if (flushed.IsCompleted)
        {
            throw new IOException("The MTA stopped reading.");
        }
    }

    private ValueTask ReplyAsync(MilterVerdict verdict)
    {
        if (verdict.SmtpReply is { } reply)
        {
            MilterFrameWriter.WriteReplyCode(output, reply);
        }
        else
        {
            MilterFrameWriter.Write(output, (byte)verdict.Code);
        }

        return FlushAsync();
    }

    /// <summary>"Continue", unless the agreement says the MTA expects no reply to this event.</summary>
    private ValueTask ContinueUnlessAsync(MilterProtocolOptions noReply) =>
        agreed.Has(noReply) ? ValueTask.CompletedTask : ReplyAsync(MilterVerdict.Continue);

    // ---- events ---------------------------------------------------------------------------------

    /// <summary>Handles the current frame; false ends the session.</summary>
    private async ValueTask<bool> DispatchAsync()
    {
        var data = frame.Data;
        if (handler is null && frame.Code != (byte)MilterCommand.OptionNegotiation)
        {
            throw new MilterProtocolException($"the MTA sent '{(char)frame.Code}' before option negotiation");
        }

        switch ((MilterCommand)frame.Code)
        {
            case MilterCommand.OptionNegotiation:
                await NegotiateAsync(data).ConfigureAwait(false);
                return true;
            case MilterCommand.Macro:
                if (data.IsEmpty)
                {
                    throw new MilterProtocolException("a macro frame without its command code");
                }

                context.Macros.Set(data.FirstSpan[0], data.Slice(1));
                if (context.Macros.Truncated && !macrosWarned)
                {
                    macrosWarned = true;
                    MilterLog.MacrosTruncated(logger, context.SessionId, options.MaxMacrosPerStage);
                }

                return true;
            case MilterCommand.Connect:
                context.Macros.ClearFrom(MilterCommand.Helo);
                context.Client = MilterEventData.Client(data);
                MilterLog.Client(logger, context.SessionId, context.Client.HostName, context.Client.Address);
                await Unanswered("connect", () => handler!.ConnectAsync(stopping), evenAfterFailure: true).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoConnectReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Helo:
                context.Macros.ClearFrom(MilterCommand.Mail);
                await ContinueUnlessAsync(MilterProtocolOptions.NoHeloReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Mail:
                context.Macros.ClearFrom(MilterCommand.Recipient);
                messageFailed = false;
                headers = 0;
                await Unanswered("MAIL", () => handler!.MailAsync(MilterEventData.Address(data), stopping)).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoMailReply).ConfigureAwait(false);
                return true;
            case MilterCommand.Recipient:
                context.Macros.ClearFrom(MilterCommand.Data);
                await Unanswered("RCPT", () => handler!.RecipientAsync(MilterEventData.Address(data), stopping)).ConfigureAwait(false);
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
                await Unanswered("body", () => handler!.BodyAsync(data, stopping)).ConfigureAwait(false);
                await ContinueUnlessAsync(MilterProtocolOptions.NoBodyReply).ConfigureAwait(false);
                return true;
            case MilterCommand.EndOfBody:
                if (!data.IsEmpty)
                {
                    // Libmilter's MTA side may send the last chunk with the end of the message.
                    await Unanswered("body", () => handler!.BodyAsync(data, stopping)).ConfigureAwait(false);
                }

                return await EndOfMessageAsync().ConfigureAwait(false);
            case MilterCommand.Abort:
                await Unanswered("abort", () => handler!.AbortAsync(stopping), evenAfterFailure: true).ConfigureAwait(false);
                messageFailed = false;
                return true;
            case MilterCommand.QuitNewConnection:
                await Unanswered("abort", () => handler!.AbortAsync(stopping), evenAfterFailure: true).ConfigureAwait(false);
                context.Macros.ClearFrom(MilterCommand.Connect);
                context.Client = null;
                messageFailed = false;
                return true;
            case MilterCommand.Quit:
                endReason = "quit";
                return false;
            default:
                throw new MilterProtocolException($"unknown command 0x{frame.Code:x2} ('{(char)frame.Code}')");
        }
    }

    private async ValueTask NegotiateAsync(ReadOnlySequence<byte> offer)
    {
        var (agreement, answer) = MilterNegotiation.Negotiate(offer, options.RequiredActions, options.MaxFrameLength, options.MacroRequests.AsReadOnly());
        agreed = agreement;
        context.Negotiated = agreement;
        MilterLog.Negotiated(logger, context.SessionId, agreed.Version, agreed.Actions, agreed.Options, agreed.MaxDataSize);
        output.Write(answer);
        await FlushAsync().ConfigureAwait(false);
        handler ??= await backend.OpenAsync(context, stopping).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs an event the MTA expects no verdict for, unless the message failed already; a failure fails the message
    /// instead of the connection.
    /// </summary>
    private async ValueTask Unanswered(string stage, Func<ValueTask> call, bool evenAfterFailure = false)
    {
        if (messageFailed && !evenAfterFailure)
        {
            return;
        }

        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            messageFailed = true;
            MilterLog.HandlerFailed(logger, context.SessionId, stage, e);
        }
    }

    private async ValueTask HeaderAsync(ReadOnlySequence<byte> data)
    {
        if (++headers > options.MaxHeaders)
        {
            return;
        }

        var (name, value) = MilterEventData.Header(Contiguous(data));
        if (!agreed.Has(MilterProtocolOptions.HeaderLeadingSpace))
        {
            // The MTA ate the space after the colon; the handler always sees the value as written.
            value = (byte[])[(byte)' ', .. value.Span];
        }

        await Unanswered("header", () => handler!.HeaderAsync(name, value, stopping)).ConfigureAwait(false);
    }

    private async ValueTask<MilterVerdict> EndOfHeadersAsync()
    {
        if (messageFailed)
        {
            return HandlerFailedVerdict;
        }

        try
        {
            return await handler!.EndOfHeadersAsync(headers <= options.MaxHeaders, stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            MilterLog.HandlerFailed(logger, context.SessionId, "end of headers", e);
            messageFailed = true;
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
        if (messageFailed)
        {
            await ReplyAsync(HandlerFailedVerdict).ConfigureAwait(false);
            return true;
        }

        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var work = handler!.EndOfMessageAsync(cancel.Token);
        if (!work.IsCompleted && !await WatchAsync(work, cancel).ConfigureAwait(false))
        {
            endReason = "MTA closed the connection during end of message";
            return false;
        }

        MilterMessageResult result;
        try
        {
            result = await work.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            MilterLog.HandlerFailed(logger, context.SessionId, "end of message", e);
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
        readTimeout.CancelAfter(Timeout.InfiniteTimeSpan);
        var watch = input.ReadAsync(readTimeout.Token).AsTask();
        pendingRead = watch;
        using var ticks = new PeriodicTimer(options.ProgressInterval);
        var tick = ticks.WaitForNextTickAsync().AsTask();
        Task[] waits = [work, watch, tick];
        while (!work.IsCompleted)
        {
            var done = await Task.WhenAny(waits).ConfigureAwait(false);
            if (done == tick)
            {
                if (agreed.Version >= 6)
                {
                    MilterFrameWriter.Write(output, (byte)MilterReply.Progress);
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

        readTimeout.CancelAfter(options.IdleTimeout);
        return true;
    }

    private async ValueTask SendAsync(MilterMessageResult result)
    {
        bool leadingSpace = agreed.Has(MilterProtocolOptions.HeaderLeadingSpace);
        foreach (var edit in result.HeaderEdits)
        {
            MilterFrameWriter.WriteHeaderEdit(output, edit, leadingSpace);
        }

        if (result.ReplacementBody is { } body)
        {
            // Every chunk fits the agreed size (Postfix refuses more than 64 KiB − 1); the output is flushed now and
            // then so a large body never piles up in the pipe.
            long unflushed = 0;
            while (true)
            {
                var memory = output.GetMemory(MilterFrameReader.LengthBytes + 1 + agreed.MaxDataSize);
                int read = await body.ReadAsync(memory.Slice(MilterFrameReader.LengthBytes + 1, agreed.MaxDataSize), stopping).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                BinaryPrimitives.WriteUInt32BigEndian(memory.Span, (uint)(read + 1));
                memory.Span[MilterFrameReader.LengthBytes] = (byte)MilterReply.ReplaceBody;
                output.Advance(MilterFrameReader.LengthBytes + 1 + read);
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

        if (scratch is null || scratch.Length < data.Length)
        {
            scratch = new byte[Math.Max(data.Length, 4096)];
        }

        data.CopyTo(scratch);
        return scratch.AsMemory(0, (int)data.Length);
    }
}
