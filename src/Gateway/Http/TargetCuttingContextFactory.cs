using Microsoft.AspNetCore.Http.Features;

namespace Detach.Gateway.Http;

/// <summary>
/// Cuts each request's target (<see cref="RequestTargetCut"/>) and drops its query as the server hands the
/// request over, before the host logs "Request starting", before routing and every middleware. A link whose
/// '#' a mail gateway percent-encoded (/d/{cid}%23{key}) thus reaches the application as /d/{cid}: the page is
/// served, its script takes the key from the address bar, and no log line at any level can hold the key
/// because nothing in the process ever has it.
/// </summary>
public sealed class TargetCuttingContextFactory(IServiceProvider services) : IHttpContextFactory
{
    private readonly DefaultHttpContextFactory _inner = new(services);

    public HttpContext Create(IFeatureCollection featureCollection)
    {
        ArgumentNullException.ThrowIfNull(featureCollection);
        var request = featureCollection.GetRequiredFeature<IHttpRequestFeature>();
        var path = request.Path;
        var kept = RequestTargetCut.KeptLength(path);
        if (kept < path.Length || request.QueryString.Length > 0)
        {
            request.Path = path[..kept];
            request.QueryString = "";
            featureCollection.Set(TargetCutFeature.Instance);
        }

        // The raw target is the undecoded original (with any %23, query or absolute-form userinfo): nothing needs it.
        request.RawTarget = request.Path;
        return _inner.Create(featureCollection);
    }

    public void Dispose(HttpContext httpContext) => _inner.Dispose(httpContext);
}

/// <summary>Marks a request whose target was cut, so the access log can say so (without saying what was cut).</summary>
public sealed class TargetCutFeature
{
    public static readonly TargetCutFeature Instance = new();

    private TargetCutFeature()
    {
    }
}
