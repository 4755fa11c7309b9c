using System.Globalization;
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

    /// <summary>A free port (see <see cref="Next(int)"/>).</summary>
    public static int Next() => Next(1)[0];

    /// <summary>
    /// Distinct free ports, all held until the last is chosen. They are drawn at random from below the kernel's
    /// ephemeral range (ip_local_port_range), not by binding port 0: a port the kernel hands out for port 0 comes from
    /// the range it also gives every outgoing connection its local port from, so under a busy test run a connection
    /// could take it between its choice and the server's bind (seen: "address already in use" at a server's start).
    /// Below the range only another test choosing the same port at the same moment can, and the bind checks it is free;
    /// a port is handed out once per process, so two calls here never give the same one.
    /// </summary>
    public static IReadOnlyList<int> Next(int count)
    {
        var listeners = new List<TcpListener>(count);
        try
        {
            for (var tries = 0; listeners.Count < count; tries++)
            {
                var port = tries < 1000 && Pool.High > 0 ? Random.Shared.Next(Pool.Low, Pool.High) : 0;
                if (port != 0 && !TryClaim(port))
                {
                    continue;
                }

                var listener = new TcpListener(IPAddress.Loopback, port);
                try
                {
                    listener.Start();
                }
                catch (SocketException)
                {
                    listener.Dispose();
                    continue;
                }

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

    private static readonly HashSet<int> Given = [];

    private static bool TryClaim(int port)
    {
        lock (Given)
        {
            return Given.Add(port);
        }
    }

    /// <summary>Ports below this are left to the system's services.</summary>
    private const int LowestPort = 10_000;

    /// <summary>
    /// Where ports are drawn from: below the kernel's ephemeral range, or above it if it starts too low; (0, 0), binding
    /// port 0, if neither leaves room.
    /// </summary>
    private static (int Low, int High) Pool { get; } = ChoosePool();

    private static (int Low, int High) ChoosePool()
    {
        var (start, end) = (32768, 60999); // Linux's default, where /proc cannot be read
        try
        {
            var fields = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            (start, end) = (int.Parse(fields[0], CultureInfo.InvariantCulture), int.Parse(fields[1], CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
        }

        return start - LowestPort >= 1000 ? (LowestPort, start)
            : 65536 - (end + 1) >= 1000 ? (end + 1, 65536)
            : (0, 0);
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
