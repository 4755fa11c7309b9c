using System.Security.Cryptography;
using Detach.Vault.Index;

namespace Detach.Vault.Tests.Index;

internal static class TestRecords
{
    private const string Base32 = "abcdefghijklmnopqrstuvwxyz234567";

    /// <summary>A CIDv1 raw/sha2-256 shaped string ("bafkrei" + 52 base32 characters) with random digest.</summary>
    public static string NewCid() => "bafkrei" + RandomNumberGenerator.GetString(Base32, 52);

    public static string NewMessageId() => $"<{Guid.NewGuid():N}@example.org>";

    public static AttachmentRecord New(
        DateTimeOffset now,
        string? messageId = null,
        long plaintextSize = 1000,
        long ciphertextSize = 1100,
        int recipients = 1,
        TimeSpan? lifetime = null,
        int? maxDownloads = null,
        StoreState state = StoreState.Stored,
        string fileName = "report.pdf",
        string contentType = "application/pdf") => new()
    {
        Cid = NewCid(),
        VaultKey = RandomNumberGenerator.GetBytes(AttachmentRecord.VaultKeyLength),
        PlaintextSize = plaintextSize,
        CiphertextSize = ciphertextSize,
        ContentType = contentType,
        FileName = fileName,
        CreatedAt = now,
        ExpiresAt = now + (lifetime ?? TimeSpan.FromDays(30)),
        MaxDownloads = maxDownloads,
        MessageId = messageId ?? NewMessageId(),
        SenderDomain = "example.org",
        RecipientCount = recipients,
        StoreState = state,
    };
}
