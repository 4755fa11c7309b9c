using System.Net;
using System.Net.Sockets;
using System.Text;
using Detach.Gateway.Hosting;
using Detach.Gateway.Tests.Cli;
using Microsoft.AspNetCore.Builder;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// /readyz names every dependency mail needs: with scanning on, the scanner too, and an instance whose scanner is
/// down while the policy is to retry (TempFail) is not ready, so a load balancer sends mail elsewhere.
/// </summary>
public sealed class ReadinessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Without_scanning_the_index_and_the_store_decide()
    {
        var (status, body) = await ReadyzAsync();
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("index ok\nstore ok\n", body);
    }

    [Fact]
    public async Task A_scanner_that_answers_is_ready()
    {
        await using var clamd = PongingClamd.Start();
        var (status, body) = await ReadyzAsync($"Scan:Clamd=tcp://127.0.0.1:{clamd.Port}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("index ok\nstore ok\nscanner ok\n", body);
    }

    [Fact]
    public async Task A_scanner_that_is_down_makes_the_instance_unready_when_mail_would_wait_for_it()
    {
        var closed = ServeTests.FreePort();
        var (status, body) = await ReadyzAsync($"Scan:Clamd=tcp://127.0.0.1:{closed}", "Scan:TimeoutSeconds=2");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("index ok\nstore ok\nscanner unreachable\n", body);

        (status, body) = await ReadyzAsync($"Scan:Clamd=tcp://127.0.0.1:{closed}", "Scan:TimeoutSeconds=2", "Scan:WhenScannerDown=Deliver");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("index ok\nstore ok\nscanner unreachable (Scan:WhenScannerDown=Deliver", body, StringComparison.Ordinal);
    }

    private static async Task<(HttpStatusCode Status, string Body)> ReadyzAsync(params string[] overrides)
    {
        using var data = new DataFolder();
        var httpPort = ServeTests.FreePort();
        var settings = data.Settings([$"PublicUrl=http://127.0.0.1:{httpPort}", $"Gateway:Listen=http://127.0.0.1:{httpPort}", "Smtp:Listen=127.0.0.1:0", .. overrides]);
        await using WebApplication app = await DetachHost.BuildAsync(settings, Ct);
        await app.StartAsync(Ct);
        try
        {
            using var http = new HttpClient();
            using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{httpPort}/readyz"), Ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>Answers clamd's zPING with PONG, as clamd does, and nothing else.</summary>
    private sealed class PongingClamd : IAsyncDisposable
    {
        private readonly TcpListener listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource stop = new();
        private Task? serving;

        public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

        public static PongingClamd Start()
        {
            var clamd = new PongingClamd();
            clamd.listener.Start();
            clamd.serving = clamd.ServeAsync();
            return clamd;
        }

        private async Task ServeAsync()
        {
            try
            {
                while (true)
                {
                    using var client = await listener.AcceptTcpClientAsync(stop.Token);
                    var stream = client.GetStream();
                    var command = new byte[6];
                    await stream.ReadExactlyAsync(command, stop.Token);
                    Assert.Equal("zPING\0", Encoding.ASCII.GetString(command));
                    await stream.WriteAsync("PONG\0"u8.ToArray(), stop.Token);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            listener.Stop();
            if (serving is not null)
            {
                await serving;
            }

            stop.Dispose();
        }
    }
}
