using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Debian's nginx as the TLS-terminating reverse proxy the README puts in front of the gateway (without TLS here):
/// it listens on 127.0.0.1, connects to the gateway from 127.0.0.1 and appends the client to X-Forwarded-For, as the
/// usual proxy configuration does. Tests skip with a message when nginx is not installed.
/// </summary>
public sealed class NginxProxy : IAsyncDisposable
{
    private const string Executable = "/usr/sbin/nginx";

    private readonly Process process;
    private readonly DirectoryInfo folder;

    private NginxProxy(Process process, DirectoryInfo folder, int port)
    {
        this.process = process;
        this.folder = folder;
        BaseUrl = $"http://127.0.0.1:{port}";
    }

    public string BaseUrl { get; }

    public static async Task<NginxProxy> StartAsync(string upstream)
    {
        if (!File.Exists(Executable))
        {
            Assert.Skip($"{Executable} is not installed (apt-get install nginx): the reverse-proxy tests run the real nginx.");
        }

        var folder = Directory.CreateTempSubdirectory("detach-nginx-");
        var port = FreePort();
        var upstreamUri = new Uri(upstream);
        var config = Path.Combine(folder.FullName, "nginx.conf");
        await File.WriteAllTextAsync(config, $$"""
            worker_processes 1;
            pid {{folder.FullName}}/nginx.pid;
            error_log {{folder.FullName}}/error.log;
            events { worker_connections 64; }
            http {
              access_log off;
              client_body_temp_path {{folder.FullName}}/body;
              proxy_temp_path {{folder.FullName}}/proxy;
              fastcgi_temp_path {{folder.FullName}}/fastcgi;
              uwsgi_temp_path {{folder.FullName}}/uwsgi;
              scgi_temp_path {{folder.FullName}}/scgi;
              server {
                listen 127.0.0.1:{{port}};
                location / {
                  proxy_pass http://{{upstreamUri.Authority}};
                  proxy_bind 127.0.0.1;
                  proxy_http_version 1.1;
                  proxy_set_header Host $host;
                  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                  proxy_set_header X-Forwarded-Proto $scheme;
                  proxy_buffering off;
                }
              }
            }

            """, TestContext.Current.CancellationToken);

        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-p", folder.FullName, "-e", Path.Combine(folder.FullName, "error.log"), "-c", config, "-g", "daemon off;" })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("nginx did not start.");
        var proxy = new NginxProxy(process, folder, port);
        for (var attempt = 0; ; attempt++)
        {
            if (process.HasExited)
            {
                var log = Path.Combine(folder.FullName, "error.log");
                throw new InvalidOperationException("nginx exited: " + await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken)
                    + (File.Exists(log) ? await File.ReadAllTextAsync(log, TestContext.Current.CancellationToken) : ""));
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
                return proxy;
            }
            catch (SocketException) when (attempt < 200)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }

        process.Dispose();
        folder.Delete(recursive: true);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
