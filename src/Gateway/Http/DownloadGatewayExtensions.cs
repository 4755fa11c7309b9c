using Detach.Gateway.Configuration;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Detach.Gateway.Http;

/// <summary>Wires the download gateway into the host: services, middleware and endpoints.</summary>
public static class DownloadGatewayExtensions
{
    private const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>
    /// Kestrel's per-connection send buffer (<see cref="SocketTransportOptions.MaxWriteBufferSize"/>, 64 KiB by
    /// default: one record): a download decrypts the next records while Kestrel sends the ones before, instead of
    /// waiting for each send. Only a slow reader fills it.
    /// </summary>
    public const int ResponseBufferBytes = 8 * 64 * 1024;

    /// <summary>
    /// Registers the gateway's own services. The host provides DetachMetrics, IContentStore, IAttachmentIndex,
    /// and either DetachSettings or both IOptions&lt;DetachOptions&gt; and IOptions&lt;GatewayOptions&gt;.
    /// </summary>
    public static IServiceCollection AddDownloadGateway(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(TimeProvider.System);

        // `detach serve` registers DetachSettings; a host that registers IOptions<...> itself keeps its own.
        services.TryAddSingleton<IOptions<DetachOptions>>(provider => Options.Create(provider.GetRequiredService<DetachSettings>().Root));
        services.TryAddSingleton<IOptions<GatewayOptions>>(provider => Options.Create(provider.GetRequiredService<DetachSettings>().Gateway));
        services.TryAddSingleton(provider => GatewaySecret.LoadOrCreate(provider.GetRequiredService<IOptions<DetachOptions>>().Value.FullDataPath));
        services.TryAddSingleton<DownloadTokenSealer>();
        services.TryAddSingleton<DownloadSlots>();
        services.TryAddSingleton<WrongKeyLimit>();
        services.TryAddSingleton<PageLanguages>();
        services.TryAddSingleton(provider => new DownloadPage(provider.GetRequiredService<IOptions<DetachOptions>>().Value.PublicUrl));
        services.TryAddSingleton<AttachmentUnlocker>();
        services.TryAddSingleton<DownloadHandler>();

        // Requests reach the pipeline with their target cut to a plain path: see TargetCuttingContextFactory.
        services.Replace(ServiceDescriptor.Singleton<IHttpContextFactory, TargetCuttingContextFactory>());
        DecorateLoggerFactory(services);

        // The host's own "Request starting/finished" lines repeat what the access log says; keep them out.
        services.Configure<LoggerFilterOptions>(options => options.AddFilter(HostingDiagnosticsCategory, LogLevel.Warning));
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<GatewayOptions>>((forwarded, gateway) =>
        {
            // Only Gateway:TrustedProxies are believed; through a chain of them, the client is the first address, from
            // the right, that is not one of them. ASP.NET's defaults trust loopback, and with both lists empty it
            // trusts every peer: so no list means the headers are not read at all.
            forwarded.ForwardedHeaders = gateway.Value.TrustedProxies.Count > 0 ? ForwardedHeaders.XForwardedFor : ForwardedHeaders.None;
            forwarded.ForwardLimit = null;
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var proxy in gateway.Value.TrustedProxies)
            {
                forwarded.KnownIPNetworks.Add(GatewayOptions.TryParseNetwork(proxy, out var network)
                    ? network
                    : throw new InvalidOperationException($"Gateway:TrustedProxies has '{proxy}', which is not a network."));
            }
        });
        services.Configure<SocketTransportOptions>(options => options.MaxWriteBufferSize = ResponseBufferBytes);
        return services;
    }

    /// <summary>Wraps whatever logger factory the host registered in <see cref="KestrelLogScrubbing"/>.</summary>
    private static void DecorateLoggerFactory(IServiceCollection services)
    {
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(ILoggerFactory) && !d.IsKeyedService);
        if (registered is null)
        {
            return;
        }

        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(provider => new KestrelLogScrubbing((ILoggerFactory)(
            registered.ImplementationInstance
            ?? registered.ImplementationFactory?.Invoke(provider)
            ?? ActivatorUtilities.CreateInstance(provider, registered.ImplementationType!)))));
    }

    /// <summary>
    /// Reads or makes the token secret, then adds the client's address from trusted proxies' headers and the access
    /// log; call before the endpoints run.
    /// </summary>
    public static IApplicationBuilder UseDownloadGateway(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);

        // Read or make the token secret now: a start that cannot stops here, and no download ever needs to write.
        _ = app.ApplicationServices.GetRequiredService<GatewaySecret>();
        app.UseMiddleware<ForwardedForTranslation>();
        app.UseForwardedHeaders();
        app.UseMiddleware<AccessLogMiddleware>();
        return app;
    }

    /// <summary>GET /d/{cid} (the page), POST /d/{cid}/meta, GET|HEAD /d/{cid}/file, GET /assets/download.{js,css}, /assets/icon.svg.</summary>
    public static IEndpointRouteBuilder MapDownloadGateway(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapMethods("/d/{cid}", [HttpMethods.Get, HttpMethods.Head], ServePage);
        app.MapPost("/d/{cid}/meta", (HttpContext context, string cid) =>
                context.RequestServices.GetRequiredService<DownloadHandler>().MetaAsync(context, cid));
        app.MapMethods("/d/{cid}/file", [HttpMethods.Get, HttpMethods.Head], (HttpContext context, string cid) =>
                context.RequestServices.GetRequiredService<DownloadHandler>().FileAsync(context, cid));
        app.MapMethods(DownloadAssets.ScriptPath, [HttpMethods.Get, HttpMethods.Head], context => ServeAsset(context, DownloadAssets.Script));
        app.MapMethods(DownloadAssets.StylePath, [HttpMethods.Get, HttpMethods.Head], context => ServeAsset(context, DownloadAssets.Style));
        app.MapMethods(DownloadAssets.IconPath, [HttpMethods.Get, HttpMethods.Head], context => ServeAsset(context, DownloadAssets.Icon));
        return app;
    }

    private static Task ServePage(HttpContext context)
    {
        var language = context.RequestServices.GetRequiredService<PageLanguages>().Negotiate(context.Request);
        var page = context.RequestServices.GetRequiredService<DownloadPage>().For(language);
        var response = context.Response;
        SecurityHeaders.Apply(response);
        PageLanguages.Label(response, language);
        response.ContentType = "text/html; charset=utf-8";
        response.ContentLength = page.Length;
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : response.Body.WriteAsync(page, context.RequestAborted).AsTask();
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
