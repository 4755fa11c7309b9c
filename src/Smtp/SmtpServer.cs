using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Smtp;

/// <summary>
/// Accepts TCP (or unix socket) connections and runs one <see cref="SmtpSession"/> per connection.
/// Over <see cref="SmtpServerOptions.MaxConnections"/> a connection gets 421 4.3.2 and is closed; over
/// <see cref="SmtpServerOptions.MaxConnectionsPerClient"/> from one client, 421 4.7.0.
/// Cancelling <see cref="RunAsync"/> stops accepting, has idle sessions answer 421 4.3.2, waits
/// <see cref="SmtpServerOptions.ShutdownGracePeriod"/> for busy ones, then drops what is left.
/// </summary>
public sealed class SmtpServer : IAsyncDisposable
{
    private static readonly byte[] TooManyConnections = "421 4.3.2 Too many connections, try again later\r\n"u8.ToArray();
    private static readonly byte[] TooManyFromClient = "421 4.7.0 Too many connections from your address, try again later\r\n"u8.ToArray();
    private readonly SmtpServerOptions _options;
    private readonly ISmtpBackend _backend;
    private readonly ILogger _logger;
    private readonly List<Socket> _listeners = [];
    private readonly ConcurrentDictionary<long, (Socket Socket, Task Task)> _sessions = new();
    private readonly Dictionary<IPAddress, int> _perClient = [];
    private long _nextSession;
    private int _active;

    public SmtpServer(SmtpServerOptions options, ISmtpBackend backend, ILogger<SmtpServer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backend);
        options.Validate();
        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException("No endpoint to listen on.", nameof(options));
        }

        _options = options;
        _backend = backend;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <summary>The bound endpoints (with the real port when 0 was asked for), once started.</summary>
    public IReadOnlyList<EndPoint> LocalEndPoints => _listeners.Select(l => l.LocalEndPoint!).ToArray();

    /// <summary>Sessions running now.</summary>
    public int ActiveSessions => Volatile.Read(ref _active);

    /// <summary>Binds and listens; <see cref="RunAsync"/> calls it when needed.</summary>
    public void Start()
    {
        if (_listeners.Count > 0)
        {
            return;
        }

        foreach (EndPoint endPoint in _options.EndPoints)
        {
            bool unix = endPoint is UnixDomainSocketEndPoint;
            if (unix)
            {
                RemoveStaleSocketFile((UnixDomainSocketEndPoint)endPoint);
            }

            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix ? ProtocolType.Unspecified : ProtocolType.Tcp);
            try
            {
                if (!unix)
                {
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                }

                if (endPoint is IPEndPoint { Address: var any } && any.Equals(IPAddress.IPv6Any))
                {
                    // [::] takes IPv4 clients too; their addresses arrive IPv4-mapped and are unmapped for the XFORWARD check.
                    socket.DualMode = true;
                }

                if (_options.InlineCompletions)
                {
                    InlineCompletions.TryEnable(socket);
                }

                socket.Bind(endPoint);
                socket.Listen(512);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            _listeners.Add(socket);
            SmtpLog.Listening(_logger, socket.LocalEndPoint?.ToString() ?? endPoint.ToString()!);
        }
    }

    /// <summary>A socket file left by a process that died would make Bind fail; one nobody answers on is removed.</summary>
    private static void RemoveStaleSocketFile(UnixDomainSocketEndPoint endPoint)
    {
        string path = endPoint.ToString();
        if (!File.Exists(path))
        {
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(endPoint);
        }
        catch (SocketException)
        {
            File.Delete(path);
            return;
        }

        throw new IOException($"Another process is listening on {path}.");
    }

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Start();
        Task[] loops = _listeners.Select(l => AcceptLoopAsync(l, cancellationToken)).ToArray();
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        finally
        {
            await DrainSessionsAsync().ConfigureAwait(false);
        }
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        using CancellationTokenRegistration stop = stopping.Register(listener.Dispose);
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
            {
                continue;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                SmtpLog.ListenerFailed(_logger, listener.LocalEndPoint?.ToString() ?? "?", e);
                throw;
            }

            IPAddress? group = CountedGroup(client.RemoteEndPoint);
            if (group is not null && !TryEnterClient(group))
            {
                SmtpLog.ClientConnectionLimit(_logger, client.RemoteEndPoint?.ToString(), _options.MaxConnectionsPerClient);
                _ = RefuseAsync(client, TooManyFromClient);
                continue;
            }

            if (Interlocked.Increment(ref _active) > _options.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                LeaveClient(group);
                SmtpLog.ConnectionLimit(_logger, client.RemoteEndPoint?.ToString(), _options.MaxConnections);
                _ = RefuseAsync(client, TooManyConnections);
                continue;
            }

            long id = Interlocked.Increment(ref _nextSession);
            if (client.AddressFamily != AddressFamily.Unix)
            {
                client.NoDelay = true;
            }

            if (_options.InlineCompletions)
            {
                InlineCompletions.TryEnable(client);
            }

            // Registered before it starts, so a session that ends at once still finds its entry to remove. With inline
            // completions the accept itself completed on the socket event thread, which then also writes the
            // greeting: no pool thread is woken for a new connection.
            var start = new Task<Task>(() => RunSessionAsync(id, client, group, stopping));
            _sessions[id] = (client, start.Unwrap());
            if (_options.InlineCompletions)
            {
                start.RunSynchronously(TaskScheduler.Default);
            }
            else
            {
                start.Start(TaskScheduler.Default);
            }
        }
    }

    /// <summary>The group whose connections count against the per-client limit; null when the client is not limited.</summary>
    private IPAddress? CountedGroup(EndPoint? remote) =>
        _options.MaxConnectionsPerClient == 0 || ClientAddress.IsIn(remote, _options.AuthorizedForwarders) ? null : ClientAddress.Group(remote);

    private bool TryEnterClient(IPAddress group)
    {
        lock (_perClient)
        {
            int count = _perClient.GetValueOrDefault(group);
            if (count >= _options.MaxConnectionsPerClient)
            {
                return false;
            }

            _perClient[group] = count + 1;
            return true;
        }
    }

    private void LeaveClient(IPAddress? group)
    {
        if (group is null)
        {
            return;
        }

        lock (_perClient)
        {
            if (_perClient[group] == 1)
            {
                _perClient.Remove(group);
            }
            else
            {
                _perClient[group]--;
            }
        }
    }

    private static async Task RefuseAsync(Socket client, byte[] reply)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await client.SendAsync(reply, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The refused client is gone already.
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task RunSessionAsync(long id, Socket client, IPAddress? group, CancellationToken stopping)
    {
        string sessionId = id.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            await using var stream = new NetworkStream(client, ownsSocket: true);
            var context = new SmtpSessionContext(sessionId, client.RemoteEndPoint, client.LocalEndPoint);
            var session = new SmtpSession(stream, context, _backend, _options, _logger);
            await session.RunAsync(stopping).ConfigureAwait(false);
            try
            {
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // Already closed by the peer.
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            SmtpLog.SessionFailed(_logger, sessionId, e);
        }
        finally
        {
            client.Dispose();
            _sessions.TryRemove(id, out _);
            LeaveClient(group);
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task DrainSessionsAsync()
    {
        Task[] running = _sessions.Values.Select(s => s.Task).ToArray();
        if (running.Length > 0)
        {
            Task all = Task.WhenAll(running);
            await Task.WhenAny(all, Task.Delay(_options.ShutdownGracePeriod)).ConfigureAwait(false);
            foreach ((Socket socket, Task _) in _sessions.Values)
            {
                socket.Dispose();
            }

            try
            {
                await all.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Sessions log their own failures.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (Socket listener in _listeners)
        {
            listener.Dispose();
        }

        foreach ((Socket socket, Task _) in _sessions.Values)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_sessions.Values.Select(s => s.Task)).ConfigureAwait(false);
    }

}
