using System.Net;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// `detach serve` in this process over a fresh data folder, the SMTP front on a free port and the gateway on another,
/// with the settings a test class gives: what the classes that send mail in and download it back share.
/// </summary>
public abstract class InProcessServe(params string[] settings) : IAsyncLifetime
{
    protected DataFolder Data { get; } = new();

    protected WebApplication App { get; private set; } = null!;

    protected int HttpPort { get; } = FreePort.Next();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected IPEndPoint SmtpEndPoint => (IPEndPoint)App.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    public async ValueTask InitializeAsync()
    {
        App = await DetachHost.BuildAsync(
            Data.Settings([$"PublicUrl=http://127.0.0.1:{HttpPort}", $"Gateway:Listen=http://127.0.0.1:{HttpPort}", "Smtp:Listen=127.0.0.1:0", .. settings]), Ct);
        await App.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        Data.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The file behind a link, its key sent in the header as a script would: the response, for the caller to dispose.</summary>
    protected static async Task<HttpResponseMessage> DownloadAsync(HttpClient http, string link)
    {
        var hash = link.IndexOf('#', StringComparison.Ordinal);
        using var request = new HttpRequestMessage(HttpMethod.Get, link[..hash] + "/file");
        request.Headers.Add("X-Detach-Key", link[(hash + 1)..]);
        return await http.SendAsync(request, Ct);
    }
}
