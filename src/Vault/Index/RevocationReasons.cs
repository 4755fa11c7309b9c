namespace Detach.Vault.Index;

/// <summary>Well-known values of <see cref="AttachmentRecord.RevokedReason"/>; any other short text is allowed.</summary>
public static class RevocationReasons
{
    /// <summary>Set by <see cref="IAttachmentIndex.ExpireAsync"/>; list filters tell expiry apart from revocation by it.</summary>
    public const string Expired = "expired";

    public const string RevokedByAdmin = "revoked by admin";

    public const string Orphaned = "orphaned";

    public const string DownloadLimitReached = "download limit reached";
}
