using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Detach.Gateway.Tests.Cli;

/// <summary>
/// A TCP relay in front of a gateway that breaks answers for real: it cuts the connection once a given number of
/// response bytes went through, or stops forwarding and holds the connection open (a stall, for a client to be
/// killed in). With a certificate it is also the TLS-terminating reverse proxy an operator puts in front.
/// Request heads are kept so a test can read what the client sent.
/// </summary>
public sealed class InterruptingProxy(int targetPort, X509Certificate2? certificate = null) : LoopbackServer
{
    private long _forwarded;

    /// <summary>Close the connection after this many response bytes (per connection).</summary>
    public long? CutAfter { get; set; }

    /// <summary>Stop forwarding after this many response bytes (per connection), and keep the connection open.</summary>
    public long? StallAfter { get; set; }

    /// <summary>Pause after each forwarded piece of response (at most 16 KiB): a slow line, for a progress display to measure.</summary>
    public TimeSpan DelayPerChunk { get; set; }

    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Response bytes forwarded over every connection so far.</summary>
    public long Forwarded => Interlocked.Read(ref _forwarded);

    protected override async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var server = new TcpClient())
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, targetPort, Stopping);
                Stream front = client.GetStream();
                if (certificate is not null)
                {
                    var tls = new SslStream(front);
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, Stopping);
                    front = tls;
                }

                var back = server.GetStream();
                using var done = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
                var up = PumpRequestsAsync(front, back, done.Token);
                var down = PumpResponsesAsync(back, front, done.Token);
                await Task.WhenAny(up, down);
                await done.CancelAsync();
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException
                                       or System.Security.Authentication.AuthenticationException)
            {
                // The client went away, or refused our certificate: both are things tests provoke.
            }
        }
    }

    private async Task PumpRequestsAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await from.ReadAsync(buffer, cancellationToken)) > 0)
        {
            Requests.Enqueue(Encoding.Latin1.GetString(buffer, 0, read));
            await to.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
    }

    private async Task PumpResponsesAsync(Stream from, Stream to, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        long sent = 0;
        while (true)
        {
            var read = await from.ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                return;
            }

            var limit = Math.Min(CutAfter ?? long.MaxValue, StallAfter ?? long.MaxValue);
            var take = (int)Math.Min(read, limit - sent);
            await to.WriteAsync(buffer.AsMemory(0, take), cancellationToken);
            await to.FlushAsync(cancellationToken);
            sent += take;
            Interlocked.Add(ref _forwarded, take);
            if (sent >= CutAfter)
            {
                return; // closing both sockets: the client sees its answer end in the middle
            }

            if (sent >= StallAfter)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            if (DelayPerChunk > TimeSpan.Zero)
            {
                await Task.Delay(DelayPerChunk, cancellationToken);
            }
        }
    }
}
