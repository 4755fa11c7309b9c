using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Detach.Milter;

/// <summary>
/// Accepts MTA connections (TCP or unix socket) and runs one <see cref="MilterSession"/> on each. Over
/// <see cref="MilterServerOptions.MaxConnections"/> a connection is closed at once (the MTA then applies its
/// milter_default_action). Cancelling <see cref="RunAsync"/> stops accepting, ends idle sessions, waits
/// <see cref="MilterServerOptions.ShutdownGracePeriod"/> for busy ones, then drops what is left.
/// </summary>
public sealed class MilterServer : IAsyncDisposable
{
    private readonly MilterServerOptions _options;
    private readonly IMilterBackend _backend;
    private readonly ILogger _logger;
    private readonly List<Socket> _listeners = [];
    private readonly ConcurrentDictionary<long, (Socket Socket, Task Task)> _sessions = new();
    private long _nextSession;
    private int _active;

    public MilterServer(MilterServerOptions options, IMilterBackend backend, ILogger<MilterServer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(backend);
        options.Validate();
        if (options.EndPoints.Count == 0)
        {
            throw new ArgumentException("No endpoint to listen on.", nameof(options));
        }

        this._options = options;
        this._backend = backend;
        this._logger = (ILogger?)logger ?? NullLogger.Instance;
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

        foreach (var endPoint in _options.EndPoints)
        {
            var unix = endPoint as UnixDomainSocketEndPoint;
            if (unix is not null)
            {
                RemoveStaleSocketFile(unix);
            }

            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, unix is not null ? ProtocolType.Unspecified : ProtocolType.Tcp);
            try
            {
                if (unix is null)
                {
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                }

                if (_options.InlineCompletions)
                {
                    Smtp.InlineCompletions.TryEnable(socket);
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
            MilterLog.Listening(_logger, MilterEndPoint.ToPostfix(socket.LocalEndPoint ?? endPoint));
        }
    }

    /// <summary>A socket file left by a process that died would make Bind fail; one nobody answers on is removed.</summary>
    private static void RemoveStaleSocketFile(UnixDomainSocketEndPoint endPoint)
    {
        var path = endPoint.ToString();
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
        try
        {
            await Task.WhenAll(_listeners.Select(l => AcceptLoopAsync(l, cancellationToken))).ConfigureAwait(false);
        }
        finally
        {
            await DrainSessionsAsync().ConfigureAwait(false);
        }
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken stopping)
    {
        using var stop = stopping.Register(listener.Dispose);
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
                MilterLog.ListenerFailed(_logger, listener.LocalEndPoint?.ToString() ?? "?", e);
                throw;
            }

            if (Interlocked.Increment(ref _active) > _options.MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                MilterLog.ConnectionLimit(_logger, client.RemoteEndPoint?.ToString(), _options.MaxConnections);
                client.Dispose();
                continue;
            }

            var id = Interlocked.Increment(ref _nextSession);
            if (client.AddressFamily != AddressFamily.Unix)
            {
                client.NoDelay = true;
            }

            if (_options.InlineCompletions)
            {
                Smtp.InlineCompletions.TryEnable(client);
            }

            // Registered before it starts, so a session that ends at once still finds its entry to remove. With inline
            // completions the accept completed on the socket event thread, which then also starts the session up to
            // its first read: no pool thread is woken for a new connection (one per SMTP session with Postfix).
            var start = new Task<Task>(() => RunSessionAsync(id, client, stopping));
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

    private async Task RunSessionAsync(long id, Socket client, CancellationToken stopping)
    {
        var sessionId = "m" + id.ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            await using var stream = client.AddressFamily == AddressFamily.Unix ? new NetworkStream(client, ownsSocket: true) : new QuickAckStream(client);
            var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 65536, minimumReadSize: 16384, leaveOpen: true));
            var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
            var context = new MilterContext(sessionId, client.RemoteEndPoint, new MilterMacros(_options.MaxMacrosPerStage));
            await new MilterSession(input, output, context, _backend, _options, _logger).RunAsync(stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            MilterLog.SessionFailed(_logger, sessionId, e);
        }
        finally
        {
            client.Dispose();
            _sessions.TryRemove(id, out _);
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task DrainSessionsAsync()
    {
        var running = _sessions.Values.Select(s => s.Task).ToArray();
        if (running.Length == 0)
        {
            return;
        }

        var all = Task.WhenAll(running);
        await Task.WhenAny(all, Task.Delay(_options.ShutdownGracePeriod)).ConfigureAwait(false);
        foreach (var (socket, _) in _sessions.Values)
        {
            socket.Dispose();
        }

        await all.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }

        foreach (var (socket, _) in _sessions.Values)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_sessions.Values.Select(s => s.Task)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
