using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// A TCP relay on 127.0.0.1 that forwards each connection byte for byte to 127.0.0.1:<see cref="TargetPort"/>
/// and records the start of both directions, so a test can read the SMTP dialogue between two real peers
/// (e.g. Postfix's proxy session and the after-filter smtpd).
/// </summary>
public sealed class RecordingTcpRelay : IAsyncDisposable
{
    /// <summary>Bytes recorded per direction and connection; the rest is forwarded but not kept.</summary>
    public const int RecordLimit = 1024 * 1024;

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<RelayedConnection> _connections = [];
    private readonly List<Task> _running = [];
    private readonly Task _acceptLoop;

    /// <summary>Starts listening at once; <paramref name="targetPort"/> may be set later, before the first connection.</summary>
    public RecordingTcpRelay(int targetPort = 0)
    {
        TargetPort = targetPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptAsync();
    }

    /// <summary>Where the relay listens.</summary>
    public int Port { get; }

    /// <summary>Where connections are forwarded (127.0.0.1); settable so the relay can exist before its target.</summary>
    public int TargetPort { get; set; }

    /// <summary>
    /// Sees each piece the target sends before it is forwarded (as Latin-1 text); returning false cuts the connection
    /// instead: that piece is recorded but never reaches the client, and both sides are closed. A fault script, e.g.
    /// a next hop that stored the message and died before its reply arrived.
    /// </summary>
    public Func<string, Task<bool>>? ForwardToClient { get; set; }

    /// <summary>Connections accepted so far.</summary>
    public IReadOnlyList<RelayedConnection> Connections
    {
        get
        {
            lock (_connections)
            {
                return [.. _connections];
            }
        }
    }

    /// <summary>Waits until <paramref name="count"/> connections have been relayed to the end (both sides closed).</summary>
    public async Task<IReadOnlyList<RelayedConnection>> WaitForClosedConnectionsAsync(
        int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var closed = Connections.Where(c => c.IsClosed).ToArray();
            if (closed.Length >= count)
            {
                return closed;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException(
                    $"{closed.Length} of {count} relayed connections closed after {timeout.TotalSeconds:0.#} s " +
                    $"({Connections.Count} accepted).");
            }

            await Task.Delay(25, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        Task[] running;
        lock (_running)
        {
            running = [.. _running, _acceptLoop];
        }

        try
        {
            await Task.WhenAll(running);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // Connections cut by the shutdown.
        }

        _listener.Dispose();
        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var connection = new RelayedConnection();
            lock (_connections)
            {
                _connections.Add(connection);
            }

            lock (_running)
            {
                _running.Add(RelayAsync(client, connection));
            }
        }
    }

    private async Task RelayAsync(TcpClient client, RelayedConnection connection)
    {
        using (client)
        using (var server = new TcpClient(AddressFamily.InterNetwork))
        {
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, TargetPort, _stopping.Token);
                var clientStream = client.GetStream();
                var serverStream = server.GetStream();
                await Task.WhenAll(
                    PumpAsync(clientStream, serverStream, server.Client, connection.RecordClientToServer, null),
                    PumpAsync(serverStream, clientStream, client.Client, connection.RecordServerToClient, ForwardToClient));
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
            {
                connection.Fault = e;
            }
            finally
            {
                connection.MarkClosed();
            }
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to, Socket toSocket, Action<ReadOnlyMemory<byte>> record, Func<string, Task<bool>>? forward)
    {
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var read = await from.ReadAsync(buffer, _stopping.Token);
            if (read == 0)
            {
                // Pass the half-close on, so the other side sees EOF just as it would without the relay.
                toSocket.Shutdown(SocketShutdown.Send);
                return;
            }

            record(buffer.AsMemory(0, read));
            if (forward is not null && !await forward(Encoding.Latin1.GetString(buffer, 0, read)))
            {
                // Both directions end here: the other pump fails on its closed socket, and RelayAsync closes the rest.
                from.Socket.Close();
                toSocket.Close();
                return;
            }

            await to.WriteAsync(buffer.AsMemory(0, read), _stopping.Token);
        }
    }
}

/// <summary>The recorded start of one relayed connection (bytes as Latin-1 text, so every byte maps to one char).</summary>
public sealed class RelayedConnection
{
    private readonly MemoryStream _clientToServer = new();
    private readonly MemoryStream _serverToClient = new();
    private volatile bool _closed;

    /// <summary>True once both directions have ended.</summary>
    public bool IsClosed => _closed;

    /// <summary>Why the relay stopped early, if it did.</summary>
    public Exception? Fault { get; internal set; }

    /// <summary>What the connecting side sent (e.g. Postfix's proxy commands).</summary>
    public string ClientToServer => Read(_clientToServer);

    /// <summary>What the target answered.</summary>
    public string ServerToClient => Read(_serverToClient);

    /// <summary>The client's lines (CRLF removed).</summary>
    public IReadOnlyList<string> ClientLines =>
        ClientToServer.Split("\r\n").Where(l => l.Length > 0).ToArray();

    internal void RecordClientToServer(ReadOnlyMemory<byte> bytes) => Record(_clientToServer, bytes);

    internal void RecordServerToClient(ReadOnlyMemory<byte> bytes) => Record(_serverToClient, bytes);

    internal void MarkClosed() => _closed = true;

    private static void Record(MemoryStream stream, ReadOnlyMemory<byte> bytes)
    {
        lock (stream)
        {
            var room = RecordingTcpRelay.RecordLimit - (int)stream.Length;
            if (room > 0)
            {
                stream.Write(bytes.Span[..Math.Min(room, bytes.Length)]);
            }
        }
    }

    private static string Read(MemoryStream stream)
    {
        lock (stream)
        {
            return Encoding.Latin1.GetString(stream.GetBuffer(), 0, (int)stream.Length);
        }
    }
}
