namespace Detach.Gateway.Tests.Download;

/// <summary>
/// Debian's nginx as the TLS-terminating reverse proxy the README puts in front of the gateway (without TLS here):
/// it listens on 127.0.0.1, connects to the gateway from 127.0.0.1 and appends the client to X-Forwarded-For, as the
/// usual proxy configuration does. Tests skip with a message when nginx is not installed.
/// </summary>
public sealed class NginxProxy : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly DirectoryInfo _folder;

    private NginxProxy(ChildProcess process, DirectoryInfo folder, int port)
    {
        this._process = process;
        this._folder = folder;
        BaseUrl = $"http://127.0.0.1:{port}";
    }

    public string BaseUrl { get; }

    public static async Task<NginxProxy> StartAsync(string upstream)
    {
        var nginx = InstalledPrograms.Require("nginx", "nginx");
        var folder = Directory.CreateTempSubdirectory("detach-nginx-");
        var port = FreePort.Next();
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

        var log = Path.Combine(folder.FullName, "error.log");
        var process = ChildProcess.Start(nginx, ["-p", folder.FullName, "-e", log, "-c", config, "-g", "daemon off;"]);
        var proxy = new NginxProxy(process, folder, port);
        try
        {
            await FreePort.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken, process);
            return proxy;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            var errors = process.StandardError + (File.Exists(log) ? await File.ReadAllTextAsync(log, TestContext.Current.CancellationToken) : "");
            await proxy.DisposeAsync();
            throw new InvalidOperationException("nginx did not start: " + errors, e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        _folder.Delete(recursive: true);
    }
}
