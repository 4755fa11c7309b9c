using Detach.Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>Wires the download gateway into the host: services, middleware and endpoints.</summary>
public static class DownloadGatewayExtensions
{
    /// <summary>
    /// Registers the gateway's own services. The host provides IOptions&lt;DetachOptions&gt;,
    /// IOptions&lt;GatewayOptions&gt;, DetachMetrics, IContentStore and IAttachmentIndex.
    /// </summary>
    public static IServiceCollection AddDownloadGateway(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(provider => GatewaySecret.LoadOrCreate(provider.GetRequiredService<IOptions<DetachOptions>>().Value.FullDataPath));
        services.TryAddSingleton<DownloadTokenSealer>();
        services.TryAddSingleton<DownloadSlots>();
        services.TryAddSingleton(provider => new DownloadPage(provider.GetRequiredService<IOptions<DetachOptions>>().Value.PublicUrl));
        services.AddRateLimiter(options => options.AddPolicy<string, KeyAttemptRateLimit>(KeyAttemptRateLimit.PolicyName));
        return services;
    }

    /// <summary>Access log and key-attempt rate limiting; call after routing is set up and before the endpoints run.</summary>
    public static IApplicationBuilder UseDownloadGateway(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseMiddleware<AccessLogMiddleware>();
        app.UseRateLimiter();
        return app;
    }

    /// <summary>GET /d/{cid} (the page), POST /d/{cid}/meta, GET|HEAD /d/{cid}/file, GET /assets/download.{js,css}.</summary>
    public static IEndpointRouteBuilder MapDownloadGateway(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapMethods("/d/{cid}", [HttpMethods.Get, HttpMethods.Head], ServePage);
        app.MapMethods(DownloadAssets.ScriptPath, [HttpMethods.Get, HttpMethods.Head], context => ServeAsset(context, DownloadAssets.Script));
        app.MapMethods(DownloadAssets.StylePath, [HttpMethods.Get, HttpMethods.Head], context => ServeAsset(context, DownloadAssets.Style));
        return app;
    }

    private static Task ServePage(HttpContext context)
    {
        var page = context.RequestServices.GetRequiredService<DownloadPage>();
        var response = context.Response;
        SecurityHeaders.Apply(response);
        response.ContentType = "text/html; charset=utf-8";
        response.ContentLength = page.Bytes.Length;
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(page.Bytes, context.RequestAborted).AsTask();
    }

    private static Task ServeAsset(HttpContext context, DownloadAssets.Asset asset)
    {
        var response = context.Response;
        SecurityHeaders.ApplyForAsset(response);
        response.Headers.ETag = asset.ETag;
        if (context.Request.Headers.IfNoneMatch == asset.ETag)
        {
            response.StatusCode = StatusCodes.Status304NotModified;
            return Task.CompletedTask;
        }

        response.ContentType = asset.ContentType;
        response.ContentLength = asset.Bytes.Length;
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(asset.Bytes, context.RequestAborted).AsTask();
    }
}
