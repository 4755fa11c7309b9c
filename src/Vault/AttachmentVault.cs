using System.Diagnostics;
using Detach.Crypto;
using Detach.Vault.Index;
using Detach.Vault.Storage;
using Microsoft.Extensions.Logging;

namespace Detach.Vault;

/// <summary>Who a message is from and for, as far as the index needs to know.</summary>
/// <param name="SenderAddress">The envelope sender, if it is a usable address; stored only for senders who get notices.</param>
public sealed record MessageContext(string MessageId, string SenderDomain, int RecipientCount, string? SenderAddress = null);

/// <summary>The name and media type an attachment is indexed under (never sent to the store).</summary>
public sealed record AttachmentFile(string FileName, string ContentType);

/// <summary>A durably stored attachment: its index row and the link that opens it (the only place its link key exists).</summary>
public sealed record StoredAttachment(AttachmentRecord Record, string Link);

public sealed class AttachmentVaultOptions
{
    /// <summary>Base URL of the download gateway; links are {PublicUrl}/d/{cid}#{key}.</summary>
    public required string PublicUrl { get; init; }

    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Retention for mail from particular sender domains (a tenant with its own policy), overriding <see cref="Retention"/>.</summary>
    public IReadOnlyDictionary<string, TimeSpan> RetentionBySenderDomain { get; init; } = new Dictionary<string, TimeSpan>();

    /// <summary>
    /// Whether senders of this domain are told of each attachment's first download; only for them is the sender's
    /// address stored. Nobody by default.
    /// </summary>
    public Func<string, bool> NotifySenderFor { get; init; } = static _ => false;

    public TimeSpan RetentionFor(string senderDomain) =>
        RetentionBySenderDomain.FirstOrDefault(p => string.Equals(p.Key, senderDomain, StringComparison.OrdinalIgnoreCase)) is { Key: not null } match
            ? match.Value
            : Retention;
}

/// <summary>
/// Stores attachments encrypted under a fresh key each, keeps the vault's key share in the index, and
/// destroys files by erasing that share. The object is durable in the store and its record durable in the
/// index before a link is handed out; the record is committed just before the message carrying the link goes out.
/// Every entry point blocks (disk, node, index) and checks <see cref="EventThreadGuard"/>.
/// </summary>
public sealed class AttachmentVault(
    IContentStore store,
    IAttachmentIndex index,
    AttachmentVaultOptions options,
    TimeProvider time,
    ILogger<AttachmentVault> logger)
{
    /// <summary>Raised after each attachment is stored, for metrics: plaintext size and the time it took.</summary>
    public event Action<AttachmentRecord, TimeSpan>? AttachmentStored;

    public IContentStore Store => store;

    public IAttachmentIndex Index => index;

    /// <summary>Starts collecting the attachments of one message; commit it just before the message goes out.</summary>
    public MessageAttachments BeginMessage(MessageContext context) => new(this, context);

    internal async Task<StoredAttachment> StoreAsync(MessageContext context, AttachmentFile attachment, Stream content, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        var started = Stopwatch.GetTimestamp();
        using var key = FileKey.Generate();
        StoredContent stored;
        await using (var ciphertext = new RecordEncryptingStream(content, key))
        {
            stored = await store.AddAsync(ciphertext, cancellationToken).ConfigureAwait(false);
        }

        var now = time.GetUtcNow();
        var record = new AttachmentRecord
        {
            Cid = stored.Cid.ToString(),
            VaultKey = key.VaultKey.ToArray(),
            PlaintextSize = RecordFormat.GetPlaintextLength(stored.Size),
            CiphertextSize = stored.Size,
            ContentType = attachment.ContentType,
            FileName = attachment.FileName,
            CreatedAt = now,
            ExpiresAt = now + options.RetentionFor(context.SenderDomain),
            MessageId = context.MessageId,
            SenderDomain = context.SenderDomain,
            RecipientCount = context.RecipientCount,
            StoreState = StoreState.Spooled,
            NotifyAddress = context.SenderAddress is { } sender && options.NotifySenderFor(context.SenderDomain) ? sender : null,
        };
        record = record with { Id = await index.AddAsync(record, cancellationToken).ConfigureAwait(false) };
        var elapsed = Stopwatch.GetElapsedTime(started);
        logger.LogInformation("Stored attachment {Cid} ({Size} bytes) of message {MessageId} in {Elapsed} ms",
            record.Cid, record.PlaintextSize, context.MessageId, (long)elapsed.TotalMilliseconds);
        AttachmentStored?.Invoke(record, elapsed);

        return new StoredAttachment(record, DownloadLink.Build(options.PublicUrl, record.Cid, key.LinkKey));
    }

    /// <summary>
    /// Looks up a link's attachment and derives its key. Throws <see cref="AttachmentGoneException"/> when the
    /// key share was erased and <see cref="KeyNotFoundException"/> when the CID is unknown.
    /// </summary>
    public async Task<(AttachmentRecord Record, FileKey Key)> OpenAsync(string cid, ReadOnlyMemory<byte> linkKey, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        var record = await index.FindByCidAsync(cid, cancellationToken).ConfigureAwait(false)
            ?? throw new KeyNotFoundException($"No attachment {cid} in this vault.");
        if (record.VaultKey is null || record.IsShredded)
        {
            throw new AttachmentGoneException(record);
        }

        if (record.ExpiresAt <= time.GetUtcNow())
        {
            throw new AttachmentGoneException(record with { RevokedAt = record.ExpiresAt, RevokedReason = RevocationReasons.Expired });
        }

        return (record, new FileKey(linkKey.Span, record.VaultKey));
    }

    /// <summary>Erases the key share of a CID or of every attachment of a Message-ID, then unpins the objects.</summary>
    public async Task<IReadOnlyList<AttachmentRecord>> RevokeAsync(string cidOrMessageId, string reason, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        var revoked = await index.RevokeAsync(cidOrMessageId, reason, time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
        await RemoveObjectsAsync(revoked, cancellationToken).ConfigureAwait(false);
        return revoked;
    }

    /// <summary>Erases the key shares of everything past its expiry and unpins the objects.</summary>
    public async Task<IReadOnlyList<AttachmentRecord>> ExpireAsync(CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        var all = new List<AttachmentRecord>();
        IReadOnlyList<AttachmentRecord> batch;
        do
        {
            batch = await index.ExpireAsync(time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            await RemoveObjectsAsync(batch, cancellationToken).ConfigureAwait(false);
            all.AddRange(batch);
        }
        while (batch.Count >= IndexQuery.MaxLimit);

        return all;
    }

    /// <summary>
    /// Shreds the keys of objects whose message never went out (older than <paramref name="age"/>) and removes them.
    /// A message being processed that loses its objects this way cannot commit (<see cref="MessageAttachments.CommitAsync"/>
    /// throws), so it is answered 4xx and retried instead of going out with dead links.
    /// </summary>
    public async Task<IReadOnlyList<AttachmentRecord>> CollectOrphansAsync(TimeSpan age, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        var all = new List<AttachmentRecord>();
        IReadOnlyList<AttachmentRecord> batch;
        do
        {
            var now = time.GetUtcNow();
            batch = await index.ShredOrphansAsync(now - age, now, cancellationToken).ConfigureAwait(false);
            await RemoveObjectsAsync(batch, cancellationToken).ConfigureAwait(false);
            all.AddRange(batch);
        }
        while (batch.Count >= IndexQuery.MaxLimit);

        return all;
    }

    private async Task RemoveObjectsAsync(IReadOnlyList<AttachmentRecord> records, CancellationToken cancellationToken)
    {
        foreach (var record in records)
        {
            try
            {
                await store.RemoveAsync(Cid.Parse(record.Cid), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The key share is already gone, so the object is unreadable; a failed unpin only costs space.
                logger.LogWarning(e, "Could not remove object {Cid} from the store; its key is erased", record.Cid);
            }
        }
    }

    internal Task<int> MarkAsync(IReadOnlyList<AttachmentRecord> records, StoreState state, CancellationToken cancellationToken)
    {
        EventThreadGuard.Check();
        return index.MarkAsync(records.Select(r => r.Cid).ToArray(), state, cancellationToken);
    }
}

/// <summary>The attachment's key share was erased (revoked or expired): the link can never work again.</summary>
public sealed class AttachmentGoneException(AttachmentRecord record)
    : Exception($"Attachment {record.Cid} is gone ({record.RevokedReason ?? "revoked"}).")
{
    public AttachmentRecord Record { get; } = record;
}

/// <summary>
/// The attachments of one message. Its objects stay spooled (garbage if the process
/// dies) until <see cref="CommitAsync"/>, just before the message goes out; from then on they live until they
/// expire, unless <see cref="AbandonAsync"/> says the next hop refused the message. Disposing an uncommitted one
/// abandons it.
/// </summary>
public sealed class MessageAttachments(AttachmentVault vault, MessageContext context) : IAsyncDisposable
{
    private readonly List<AttachmentRecord> records = [];
    private bool committed;
    private bool abandoned;

    public IReadOnlyList<AttachmentRecord> Records => records;

    /// <summary>Encrypts <paramref name="content"/> (plaintext, read once to its end) under a fresh key, stores and indexes it.</summary>
    public async Task<StoredAttachment> StoreAsync(AttachmentFile attachment, Stream content, CancellationToken cancellationToken)
    {
        var stored = await vault.StoreAsync(context, attachment, content, cancellationToken).ConfigureAwait(false);
        records.Add(stored.Record);
        return stored;
    }

    /// <summary>Records what readers of a stored attachment must be warned about (its download page shows it).</summary>
    public async Task<StoredAttachment> WarnAsync(StoredAttachment stored, string warning, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stored);
        await vault.Index.SetWarningAsync(stored.Record.Cid, warning, cancellationToken).ConfigureAwait(false);
        var warned = stored.Record with { Warning = warning };
        records[records.IndexOf(stored.Record)] = warned;
        return stored with { Record = warned };
    }

    /// <summary>
    /// The links are about to leave: call it before the final dot. From then on the outcome may become unknowable
    /// (the next hop stores the message and dies before its reply, or this process dies), so the objects are live
    /// whatever happens next and no orphan sweep takes them. Throws <see cref="InvalidOperationException"/>, with
    /// nothing committed, when a sweep took one first: then the message must not go out.
    /// </summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        if (committed || records.Count == 0)
        {
            committed = true;
            return;
        }

        var marked = await vault.MarkAsync(records, StoreState.Stored, cancellationToken).ConfigureAwait(false);
        if (marked < records.Count)
        {
            await AbandonAsync(cancellationToken).ConfigureAwait(false);
            throw new InvalidOperationException(
                $"{records.Count - marked} of the {records.Count} attachment(s) of message {context.MessageId} were collected as orphans before it was sent.");
        }

        committed = true;
    }

    /// <summary>
    /// The next hop refused the message with a reply (or it never went out): nobody has these links, so the objects
    /// are garbage, committed or not. Only a reply says so: a lost connection or a timeout is not a refusal.
    /// </summary>
    public async Task AbandonAsync(CancellationToken cancellationToken)
    {
        if (!abandoned)
        {
            abandoned = true;
            await vault.MarkAsync(records, StoreState.Orphaned, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!committed && !abandoned && records.Count > 0)
        {
            // Best effort: if this fails too, the records stay spooled and gc treats old spooled ones as orphans.
            try
            {
                await AbandonAsync(CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                _ = e;
            }
        }
    }
}
