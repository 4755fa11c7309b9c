using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Detach.Smtp.Tests;

/// <summary>A message the backend read to its end.</summary>
internal sealed record ReceivedMessage(string From, IReadOnlyList<string> Recipients, byte[] Data, IReadOnlyDictionary<string, string> Forwarded, string? Helo);

/// <summary>A backend that records what it is given; behaviour can be changed per test.</summary>
internal sealed class TestBackend : ISmtpBackend
{
    public Channel<ReceivedMessage> Messages { get; } = Channel.CreateUnbounded<ReceivedMessage>();

    /// <summary>Exceptions DataAsync saw while reading the message (client gone, limits).</summary>
    public Channel<Exception> DataFailures { get; } = Channel.CreateUnbounded<Exception>();

    /// <summary>One entry per disposed transaction: whether its message was read to the end.</summary>
    public Channel<bool> TransactionsEnded { get; } = Channel.CreateUnbounded<bool>();

    public ConcurrentQueue<SmtpSessionContext> Sessions { get; } = new();

    public Func<MailFromCommand, MailResult?>? OnMail { get; set; }

    public Func<RcptToCommand, SmtpReply>? OnRcpt { get; set; }

    /// <summary>Replaces the normal read-everything DATA; returns the reply.</summary>
    public Func<Stream, CancellationToken, Task<SmtpReply>>? OnData { get; set; }

    public bool Lmtp { get; set; }

    public ValueTask<ISmtpSessionHandler> OpenSessionAsync(SmtpSessionContext context, CancellationToken cancellationToken)
    {
        Sessions.Enqueue(context);
        return ValueTask.FromResult<ISmtpSessionHandler>(new Handler(this, context));
    }

    private sealed class Handler(TestBackend backend, SmtpSessionContext context) : ISmtpSessionHandler
    {
        public ValueTask<MailResult> BeginTransactionAsync(MailFromCommand mail, CancellationToken cancellationToken)
        {
            MailResult? custom = backend.OnMail?.Invoke(mail);
            if (custom is not null)
            {
                return ValueTask.FromResult(custom);
            }

            var forwarded = new Dictionary<string, string>(context.Forwarded);
            Transaction tx = backend.Lmtp ? new LmtpTransaction(backend, context, mail, forwarded) : new Transaction(backend, context, mail, forwarded);
            return ValueTask.FromResult(MailResult.Accept(tx));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private class Transaction(TestBackend backend, SmtpSessionContext context, MailFromCommand mail, Dictionary<string, string> forwarded) : ISmtpTransaction
    {
        private readonly List<string> _recipients = [];
        private bool _completed;

        protected TestBackend Backend => backend;

        protected List<string> Recipients => _recipients;

        public ValueTask<SmtpReply> AddRecipientAsync(RcptToCommand recipient, CancellationToken cancellationToken)
        {
            SmtpReply reply = backend.OnRcpt?.Invoke(recipient) ?? new SmtpReply(250, "2.1.5", "Ok");
            if (reply.IsPositiveCompletion)
            {
                _recipients.Add(recipient.ForwardPath);
            }

            return ValueTask.FromResult(reply);
        }

        public async ValueTask<SmtpReply> DataAsync(Stream message, CancellationToken cancellationToken)
        {
            if (backend.OnData is not null)
            {
                return await backend.OnData(message, cancellationToken);
            }

            await ReadAllAsync(message, cancellationToken);
            return new SmtpReply(250, "2.0.0", "Ok: queued as TEST");
        }

        protected async Task ReadAllAsync(Stream message, CancellationToken cancellationToken)
        {
            var copy = new MemoryStream();
            try
            {
                await message.CopyToAsync(copy, cancellationToken);
            }
            catch (Exception e)
            {
                await backend.DataFailures.Writer.WriteAsync(e, cancellationToken);
                throw;
            }

            _completed = true;
            await backend.Messages.Writer.WriteAsync(new ReceivedMessage(mail.ReversePath, _recipients.ToArray(), copy.ToArray(), forwarded, context.HeloName), cancellationToken);
        }

        public async ValueTask DisposeAsync() => await backend.TransactionsEnded.Writer.WriteAsync(_completed);
    }

    private sealed class LmtpTransaction(TestBackend backend, SmtpSessionContext context, MailFromCommand mail, Dictionary<string, string> forwarded)
        : Transaction(backend, context, mail, forwarded), ILmtpTransaction
    {
        public async ValueTask<IReadOnlyList<SmtpReply>> LmtpDataAsync(Stream message, CancellationToken cancellationToken)
        {
            await ReadAllAsync(message, cancellationToken);
            return Recipients.Select(r => r.StartsWith("full", StringComparison.Ordinal)
                ? new SmtpReply(452, "4.2.2", $"<{r}> Mailbox full")
                : new SmtpReply(250, "2.0.0", $"<{r}> Saved")).ToArray();
        }
    }
}
