using Microsoft.Net.Http.Headers;

namespace Detach.Gateway.Http;

/// <summary>Headers every gateway answer carries: nothing cached, indexed, framed, sniffed or referred.</summary>
public static class SecurityHeaders
{
    public const string PagePolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

    /// <summary>A decrypted file is never a page: if a browser ever renders one, it runs in a sandbox with no scripts.</summary>
    public const string FilePolicy = "default-src 'none'; sandbox; frame-ancestors 'none'";

    public static void Apply(HttpResponse response, bool file = false)
    {
        var headers = response.Headers;
        headers.ContentSecurityPolicy = file ? FilePolicy : PagePolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["X-Robots-Tag"] = "noindex, nofollow";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";
        headers["Cross-Origin-Resource-Policy"] = "same-origin";
        headers.CacheControl = "no-store";
        headers.Pragma = "no-cache";
    }

    /// <summary>Static assets may be cached (they hold no secret), everything else about them stays strict.</summary>
    public static void ApplyForAsset(HttpResponse response)
    {
        Apply(response);
        response.Headers.CacheControl = "public, max-age=3600";
        response.Headers.Remove(HeaderNames.Pragma);
    }
}
