namespace Detach.Gateway.Http;

/// <summary>Where a client may present a link key or its download token; never the URL.</summary>
public static class LinkKeyHeader
{
    /// <summary>Request header carrying the link key (the text after '#' in the link).</summary>
    public const string Name = "X-Detach-Key";

    /// <summary>Cookie carrying the sealed download token, scoped to /d/{cid}.</summary>
    public const string TokenCookie = "detach_token";
}
