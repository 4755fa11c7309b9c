using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Detach.Fuzz.Oracles;
using Detach.Milter;

namespace Detach.Fuzz.Targets;

/// <summary>
/// One <see cref="MilterSession"/> over the input, with a backend that records its events and at end of message asks
/// for header edits and a new body made of what it received. An independent model of the protocol predicts where
/// the session ends, which events reach the backend and which frames go back; the session is given only the bytes
/// up to the point where the model says it must have decided (it must not wait for more), and the pipe holds at
/// most one frame of the cap and a piece, in small segments.
/// </summary>
internal static class MilterSessionCheck
{
    private const int MaxHeaders = 3;

    public static void Run(byte[] input, int cap)
    {
        var expected = Model(input, cap);
        // Small segments (each write of 1..13 bytes gets its own), so frames reach the session in pieces.
        var toMilter = new Pipe(new PipeOptions(
            pool: MemoryPool<byte>.Shared, minimumSegmentSize: 1,
            pauseWriterThreshold: cap + 5 + 16, resumeWriterThreshold: cap + 5 + 16, useSynchronizationContext: false));
        var fromMilter = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
        var options = new MilterServerOptions { MaxFrameLength = cap, MaxHeaders = MaxHeaders, MaxMacrosPerStage = 2 };
        options.MacroRequests[MilterMacroStage.EndOfMessage] = "i";
        var backend = new RecordingBackend();
        var session = new MilterSession(toMilter.Reader, fromMilter.Writer, new MilterContext("fuzz", null, new MilterMacros(options.MaxMacrosPerStage)), backend, options);
        var run = Task.Run(() => session.RunAsync(CancellationToken.None));
        Feed(toMilter.Writer, input.AsMemory(0, expected.Needed), complete: expected.AtEndOfInput).GetAwaiter().GetResult();
        Check(run.Wait(TimeSpan.FromSeconds(15)), $"the session did not end by itself after the {expected.Needed} bytes it needed (model: {expected.EndReason ?? "waits"})");
        toMilter.Writer.Complete();
        var endReason = expected.EndReason ?? (expected.Negotiated ? "MTA closed the connection" : "closed before negotiation");
        Check(session.EndReason == endReason, $"the session ended with '{session.EndReason}', the model says '{endReason}'");
        var events = backend.Events.ToList();
        Check(events.SequenceEqual(expected.Events), $"events:\n  {string.Join(" | ", events)}\nmodel:\n  {string.Join(" | ", expected.Events)}");

        fromMilter.Reader.TryRead(out var result);
        var replies = result.Buffer.ToArray();
        Check(replies.AsSpan().SequenceEqual(expected.Replies.WrittenSpan.ToArray()), $"replies:\n  {Convert.ToHexString(replies)}\nmodel:\n  {Convert.ToHexString(expected.Replies.WrittenSpan.ToArray())}");
    }

    private static async Task Feed(PipeWriter writer, ReadOnlyMemory<byte> bytes, bool complete)
    {
        using var sizes = Segments.Trickle().GetEnumerator();
        while (!bytes.IsEmpty && sizes.MoveNext())
        {
            var piece = bytes[..Math.Min(bytes.Length, sizes.Current)];
            bytes = bytes[piece.Length..];
            if ((await writer.WriteAsync(piece)).IsCompleted)
            {
                return; // the session stopped reading: whether it should have is checked afterwards
            }
        }

        if (complete)
        {
            await writer.CompleteAsync();
        }
    }

    private sealed class Expected
    {
        public int Needed { get; set; }

        /// <summary>The session learns its end from the end of the input (the MTA closing): the pipe is completed.</summary>
        public bool AtEndOfInput { get; set; }

        /// <summary>Null: the session waits for more once the input is exhausted.</summary>
        public string? EndReason { get; set; }

        public bool Negotiated { get; set; }

        public List<string> Events { get; } = [];

        public ArrayBufferWriter<byte> Replies { get; } = new();
    }

    /// <summary>What the MTA should see, from the protocol description and the backend's behaviour.</summary>
    private static Expected Model(byte[] input, int cap)
    {
        var expected = new Expected();
        var frames = MilterModel.Split(input, cap);
        Replay(expected, frames);
        if (expected.EndReason is null && frames.Ending.Kind == MilterModel.EndingKind.Invalid)
        {
            // Refused on its length word alone: the data must not be waited for.
            expected.Needed = frames.Ending.Offset + 4;
            expected.EndReason = "protocol error";
        }
        else if (expected.EndReason is null)
        {
            expected.Needed = input.Length;
            expected.AtEndOfInput = true;
            if (frames.Ending.Kind == MilterModel.EndingKind.Truncated)
            {
                expected.EndReason = "protocol error";
            }
        }

        if (expected.Negotiated)
        {
            // The handler is told at close, whatever the reason.
            expected.Events.Add("abort");
            expected.Events.Add("dispose");
        }

        return expected;
    }

    /// <summary>The frames' effects in order, until one ends the session (<see cref="Expected.EndReason"/> set).</summary>
    private static void Replay(Expected expected, MilterModel.FrameList frames)
    {
        var agreed = MilterProtocolOptions.None;
        int headers = 0;
        var message = new Message();
        foreach (var frame in frames)
        {
            expected.Needed = frame.End;
            if (!expected.Negotiated && frame.Code != 'O')
            {
                expected.EndReason = "protocol error";
                return;
            }

            void ContinueUnless(MilterProtocolOptions noReply)
            {
                if ((agreed & noReply) == 0)
                {
                    expected.Replies.Write(MilterModel.Encode('c', []));
                }
            }

            switch ((char)frame.Code)
            {
                case 'O':
                    if (MilterModel.NegotiationAnswer(frame.Data, macros: true) is not { } answer)
                    {
                        expected.EndReason = "protocol error";
                        return;
                    }

                    agreed = (MilterProtocolOptions)(((uint)answer[13] << 24) | ((uint)answer[14] << 16) | ((uint)answer[15] << 8) | answer[16]);
                    expected.Replies.Write(answer);
                    if (!expected.Negotiated)
                    {
                        expected.Negotiated = true;
                        expected.Events.Add("open");
                    }

                    break;
                case 'D' when frame.Data.Length == 0:
                    expected.EndReason = "protocol error";
                    return;
                case 'D':
                    break;
                case 'C':
                    if (MilterModel.Client(frame.Data) is not { } client)
                    {
                        expected.EndReason = "protocol error";
                        return;
                    }

                    expected.Events.Add($"connect {client}");
                    ContinueUnless(MilterProtocolOptions.NoConnectReply);
                    break;
                case 'H':
                    ContinueUnless(MilterProtocolOptions.NoHeloReply);
                    break;
                case 'M':
                    headers = 0;
                    message = new Message();
                    expected.Events.Add($"mail {MilterModel.Address(frame.Data)}");
                    ContinueUnless(MilterProtocolOptions.NoMailReply);
                    break;
                case 'R':
                    expected.Events.Add($"rcpt {MilterModel.Address(frame.Data)}");
                    ContinueUnless(MilterProtocolOptions.NoRecipientReply);
                    break;
                case 'T':
                    ContinueUnless(MilterProtocolOptions.NoDataReply);
                    break;
                case 'U':
                    ContinueUnless(MilterProtocolOptions.NoUnknownReply);
                    break;
                case 'L':
                    if (++headers <= MaxHeaders)
                    {
                        if (MilterModel.Header(frame.Data) is not var (name, value))
                        {
                            expected.EndReason = "protocol error";
                            return;
                        }

                        // The handler always sees the value as written after the colon.
                        var seen = agreed.HasFlag(MilterProtocolOptions.HeaderLeadingSpace) ? value : [(byte)' ', .. value];
                        message.Headers.Add((name, seen));
                        expected.Events.Add($"header {RecordingBackend.Text(name)}:{RecordingBackend.Text(seen)}");
                    }

                    ContinueUnless(MilterProtocolOptions.NoHeaderReply);
                    break;
                case 'N':
                    expected.Events.Add($"eoh {headers <= MaxHeaders}");
                    expected.Replies.Write(MilterModel.Encode('c', []));
                    break;
                case 'B':
                    message.Body.Write(frame.Data);
                    expected.Events.Add($"body {frame.Data.Length}");
                    ContinueUnless(MilterProtocolOptions.NoBodyReply);
                    break;
                case 'E':
                    if (frame.Data.Length > 0)
                    {
                        message.Body.Write(frame.Data);
                        expected.Events.Add($"body {frame.Data.Length}");
                    }

                    expected.Events.Add("eom");
                    bool leadingSpace = agreed.HasFlag(MilterProtocolOptions.HeaderLeadingSpace);
                    foreach (var edit in RecordingBackend.Edits(message.Headers))
                    {
                        expected.Replies.Write(MilterModel.HeaderEdit(edit, leadingSpace));
                    }

                    foreach (var chunk in message.Body.WrittenMemory.ToArray().Chunk(MilterNegotiation.DefaultMaxDataSize))
                    {
                        expected.Replies.Write(MilterModel.Encode('b', chunk));
                    }

                    expected.Replies.Write(MilterModel.Encode('a', []));
                    break;
                case 'A':
                case 'K':
                    message = new Message();
                    expected.Events.Add("abort");
                    break;
                case 'Q':
                    expected.EndReason = "quit";
                    break;
                default:
                    expected.EndReason = "protocol error";
                    return;
            }

            if (expected.EndReason is not null)
            {
                return;
            }
        }
    }

    private sealed class Message
    {
        public List<(byte[] Name, byte[] Value)> Headers { get; } = [];

        public ArrayBufferWriter<byte> Body { get; } = new();
    }

    private static void Check(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvariantException(what);
        }
    }

    /// <summary>Writes down each event; at end of message edits every header it saw and sends back the body it got.</summary>
    private sealed class RecordingBackend : IMilterBackend
    {
        public List<string> Events { get; } = [];

        public static string Text(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

        /// <summary>The edits asked for at end of message: change each header, insert one at the top, add one with a CRLF fold.</summary>
        public static IEnumerable<MilterHeaderEdit> Edits(List<(byte[] Name, byte[] Value)> headers) =>
            headers.Select(h => MilterHeaderEdit.Change(1, h.Name, h.Value))
                .Append(MilterHeaderEdit.Insert(0, "X-Fuzz"u8.ToArray(), headers.Count > 0 ? headers[0].Value : " none"u8.ToArray()))
                .Append(MilterHeaderEdit.Add("X-Folded"u8.ToArray(), " a\r\n\tb"u8.ToArray()));

        public ValueTask<IMilterHandler> OpenAsync(MilterContext context, CancellationToken cancellationToken)
        {
            Events.Add("open");
            return ValueTask.FromResult<IMilterHandler>(new Handler(this, context));
        }

        private sealed class Handler(RecordingBackend owner, MilterContext context) : IMilterHandler
        {
            private Message _message = new();

            public ValueTask ConnectAsync(CancellationToken cancellationToken) => Record($"connect {context.Client}");

            public ValueTask MailAsync(string sender, CancellationToken cancellationToken)
            {
                _message = new Message();
                return Record($"mail {sender}");
            }

            public ValueTask RecipientAsync(string recipient, CancellationToken cancellationToken) => Record($"rcpt {recipient}");

            public ValueTask HeaderAsync(ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
            {
                _message.Headers.Add((name.ToArray(), value.ToArray()));
                return Record($"header {Text(name.Span)}:{Text(value.Span)}");
            }

            public ValueTask<MilterVerdict> EndOfHeadersAsync(bool headersComplete, CancellationToken cancellationToken)
            {
                owner.Events.Add($"eoh {headersComplete}");
                return ValueTask.FromResult(MilterVerdict.Continue);
            }

            public ValueTask BodyAsync(ReadOnlySequence<byte> chunk, CancellationToken cancellationToken)
            {
                foreach (var segment in chunk)
                {
                    _message.Body.Write(segment.Span);
                }

                return Record($"body {chunk.Length}");
            }

            public Task<MilterMessageResult> EndOfMessageAsync(CancellationToken cancellationToken)
            {
                owner.Events.Add("eom");
                return Task.FromResult(new MilterMessageResult(MilterVerdict.Accept)
                {
                    HeaderEdits = Edits(_message.Headers).ToList(),
                    ReplacementBody = new MemoryStream(_message.Body.WrittenMemory.ToArray()),
                });
            }

            public ValueTask AbortAsync(CancellationToken cancellationToken)
            {
                _message = new Message();
                return Record("abort");
            }

            public ValueTask DisposeAsync() => Record("dispose");

            private ValueTask Record(string text)
            {
                owner.Events.Add(text);
                return ValueTask.CompletedTask;
            }
        }
    }
}
