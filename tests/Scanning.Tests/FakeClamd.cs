using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.Scanning.Tests;

/// <summary>
/// A scripted clamd on a loopback port (or a unix socket): each connection runs <c>script</c>, which reads the
/// command and chunks with the helpers here and answers what the test wants, including nothing at all.
/// </summary>
internal sealed class FakeClamd : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<Connection, Task> _script;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Task> _connections = [];

    private FakeClamd(Socket listener, Func<Connection, Task> script, string endpoint)
    {
        this._listener = listener;
        this._script = script;
        Endpoint = endpoint;
        _accepting = AcceptAsync();
    }

    /// <summary>Where the client connects: tcp://127.0.0.1:port or unix:/path.</summary>
    public string Endpoint { get; }

    public ClamdClient Client(TimeSpan? timeout = null, long maxStreamBytes = 25 * 1024 * 1024, int chunkBytes = 64 * 1024)
    {
        Assert.True(ClamdEndpoint.TryParse(Endpoint, out var endpoint, out var error), error);
        return new ClamdClient(new ClamdClientOptions
        {
            Endpoint = endpoint,
            Timeout = timeout ?? TimeSpan.FromSeconds(30),
            MaxStreamBytes = maxStreamBytes,
            ChunkBytes = chunkBytes,
        });
    }

    public static FakeClamd StartTcp(Func<Connection, Task> script)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        return new FakeClamd(listener, script, $"tcp://127.0.0.1:{((IPEndPoint)listener.LocalEndPoint!).Port}");
    }

    public static FakeClamd StartUnix(string path, Func<Connection, Task> script)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        return new FakeClamd(listener, script, "unix:" + path);
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptAsync(_stop.Token);
                lock (_connections)
                {
                    _connections.Add(RunAsync(socket));
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task RunAsync(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            await _script(new Connection(stream, _stop.Token));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException)
        {
            // The client went away or the fake is stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting;
        Task[] running;
        lock (_connections)
        {
            running = [.. _connections];
        }

        await Task.WhenAll(running);
        _stop.Dispose();
    }

    /// <summary>One client connection, as clamd sees it.</summary>
    public sealed class Connection(NetworkStream stream, CancellationToken stopping)
    {
        public CancellationToken Stopping => stopping;

        /// <summary>The z-command up to its NUL, e.g. "zINSTREAM".</summary>
        public async Task<string> ReadCommandAsync()
        {
            var text = new StringBuilder();
            var one = new byte[1];
            while (await stream.ReadAsync(one, stopping) == 1 && one[0] != 0)
            {
                text.Append((char)one[0]);
            }

            return text.ToString();
        }

        /// <summary>The next chunk's bytes; empty for the terminating zero-length chunk.</summary>
        public async Task<byte[]> ReadChunkAsync()
        {
            var header = new byte[4];
            await stream.ReadExactlyAsync(header, stopping);
            var chunk = new byte[BinaryPrimitives.ReadUInt32BigEndian(header)];
            await stream.ReadExactlyAsync(chunk, stopping);
            return chunk;
        }

        /// <summary>Every chunk up to the terminator, joined, and the sizes of the chunks.</summary>
        public async Task<(byte[] Content, List<int> Chunks)> ReadStreamAsync()
        {
            var content = new MemoryStream();
            var sizes = new List<int>();
            while (await ReadChunkAsync() is { Length: > 0 } chunk)
            {
                sizes.Add(chunk.Length);
                content.Write(chunk);
            }

            return (content.ToArray(), sizes);
        }

        public async Task ReplyAsync(string text) => await stream.WriteAsync(Encoding.ASCII.GetBytes(text + "\0"), stopping);

        /// <summary>Holds the connection open without a word until the test ends.</summary>
        public async Task StayQuietAsync() => await Task.Delay(Timeout.Infinite, stopping);
    }
}
