using System.Net;

namespace Detach.Smtp.Tests;

/// <summary>An <see cref="SmtpServer"/> on a loopback port for one test.</summary>
internal sealed class ServerHost : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _run;

    private ServerHost(SmtpServer server, SmtpServerOptions options)
    {
        Server = server;
        Options = options;
        server.Start();
        EndPoint = (IPEndPoint)server.LocalEndPoints[0];
        _run = server.RunAsync(_stop.Token);
    }

    public SmtpServer Server { get; }

    public SmtpServerOptions Options { get; }

    public IPEndPoint EndPoint { get; }

    public static ServerHost Start(ISmtpBackend backend, Action<SmtpServerOptions>? configure = null)
    {
        var options = new SmtpServerOptions { ServerName = "mx.test", ShutdownGracePeriod = TimeSpan.FromSeconds(5) };
        options.EndPoints.Add(new IPEndPoint(IPAddress.Loopback, 0));
        configure?.Invoke(options);
        return new ServerHost(new SmtpServer(options, backend), options);
    }

    /// <summary>Starts a graceful stop and returns the task that ends with it.</summary>
    public Task StopAsync()
    {
        _stop.Cancel();
        return _run;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _run;
        }
        finally
        {
            await Server.DisposeAsync();
            _stop.Dispose();
        }
    }
}
