using System.Net;
using System.Net.Sockets;

namespace Detach.Tests.Support;

/// <summary>Free TCP ports on 127.0.0.1, for peers that must be told their port before they bind.</summary>
public static class FreePort
{
    /// <summary>What a server says when another process took the port between <see cref="Next()"/> and its bind.</summary>
    public const string TakenMessage = "Address already in use";

    /// <summary>
    /// Starts a server on freshly chosen ports, again (three tries in all) when another process took one of them
    /// first: <paramref name="start"/> throws <see cref="InvalidOperationException"/> naming <see cref="TakenMessage"/>.
    /// </summary>
    public static async Task<T> RetryWhenTakenAsync<T>(Func<Task<T>> start)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await start();
            }
            catch (InvalidOperationException e) when (attempt < 3 && e.Message.Contains(TakenMessage, StringComparison.Ordinal))
            {
                // Another process took a port between choosing it and the server binding it.
            }
        }
    }

    /// <summary>
    /// Asks the kernel for an ephemeral port by binding port 0, then releases it. Another process may take
    /// it before the caller binds; the kernel hands ephemeral ports out round-robin, so that is rare.
    /// </summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Distinct free ports; all are held until the last is chosen, so they differ.</summary>
    public static IReadOnlyList<int> Next(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Dispose();
            }
        }
    }

    /// <summary>True when nothing listens on 127.0.0.1:<paramref name="port"/> (binding it succeeds).</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Waits until something accepts TCP connections on 127.0.0.1:<paramref name="port"/>; gives up at once
    /// if <paramref name="server"/>, the process meant to listen there, has exited.
    /// </summary>
    public static async Task WaitUntilListeningAsync(
        int port, TimeSpan timeout, CancellationToken cancellationToken, ChildProcess? server = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (server is { HasExited: true })
            {
                throw new InvalidOperationException($"`{server.Command}` exited before listening on 127.0.0.1:{port}.");
            }

            using var client = new TcpClient(AddressFamily.InterNetwork);
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(25, cancellationToken);
            }
            catch (SocketException e)
            {
                throw new TimeoutException($"Nothing listens on 127.0.0.1:{port} after {timeout.TotalSeconds:0.#} s.", e);
            }
        }
    }
}
