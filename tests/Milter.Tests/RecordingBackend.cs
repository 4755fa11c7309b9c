using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace Detach.Milter.Tests;

/// <summary>A backend that writes down every event as text and answers as the test says.</summary>
internal sealed class RecordingBackend : IMilterBackend
{
    public ConcurrentQueue<string> Events { get; } = new();

    public MilterContext? Context { get; private set; }

    /// <summary>The answer at end of headers.</summary>
    public Func<MilterVerdict> EndOfHeaders { get; set; } = () => MilterVerdict.Continue;

    /// <summary>The answer at end of message, given the body received; runs with the session's cancellation token.</summary>
    public Func<byte[], CancellationToken, Task<MilterMessageResult>> EndOfMessage { get; set; } =
        (_, _) => Task.FromResult(new MilterMessageResult(MilterVerdict.Accept));

    /// <summary>Thrown from the event of that name, to test failures.</summary>
    public string? FailAt { get; set; }

    public ValueTask<IMilterHandler> OpenAsync(MilterContext context, CancellationToken cancellationToken)
    {
        Context = context;
        Events.Enqueue("open");
        return ValueTask.FromResult<IMilterHandler>(new Handler(this));
    }

    private sealed class Handler(RecordingBackend owner) : IMilterHandler
    {
        private readonly MemoryStream _body = new();

        private void Record(string text)
        {
            var name = text.Split(' ')[0];
            owner.Events.Enqueue(text);
            if (owner.FailAt == name)
            {
                throw new InvalidOperationException("failing at " + name + " as asked");
            }
        }

        public ValueTask ConnectAsync(CancellationToken cancellationToken)
        {
            Record($"connect {owner.Context!.Client}");
            return ValueTask.CompletedTask;
        }

        public ValueTask MailAsync(string sender, CancellationToken cancellationToken)
        {
            _body.SetLength(0);
            Record($"mail {sender}");
            return ValueTask.CompletedTask;
        }

        public ValueTask RecipientAsync(string recipient, CancellationToken cancellationToken)
        {
            Record($"rcpt {recipient}");
            return ValueTask.CompletedTask;
        }

        public ValueTask HeaderAsync(ReadOnlyMemory<byte> name, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
        {
            Record($"header {Encoding.UTF8.GetString(name.Span)}:{Encoding.UTF8.GetString(value.Span)}");
            return ValueTask.CompletedTask;
        }

        public ValueTask<MilterVerdict> EndOfHeadersAsync(bool headersComplete, CancellationToken cancellationToken)
        {
            Record($"eoh {(headersComplete ? "complete" : "incomplete")} i={owner.Context!.Macros["i"]}");
            return ValueTask.FromResult(owner.EndOfHeaders());
        }

        public ValueTask BodyAsync(ReadOnlySequence<byte> chunk, CancellationToken cancellationToken)
        {
            Record($"body {chunk.Length}");
            foreach (var segment in chunk)
            {
                _body.Write(segment.Span);
            }

            return ValueTask.CompletedTask;
        }

        public Task<MilterMessageResult> EndOfMessageAsync(CancellationToken cancellationToken)
        {
            Record($"eom i={owner.Context!.Macros["i"]} auth={owner.Context.Macros["{auth_authen}"]}");
            return owner.EndOfMessage(_body.ToArray(), cancellationToken);
        }

        public ValueTask AbortAsync(CancellationToken cancellationToken)
        {
            Record("abort");
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            owner.Events.Enqueue("dispose");
            return ValueTask.CompletedTask;
        }
    }
}
