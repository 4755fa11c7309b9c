using System.Net.Sockets;
using System.Text;

namespace Detach.EndToEnd.Tests.Proxy;

/// <summary>
/// A bare TCP connection that writes whatever bytes a test wants (garbage, over-long lines, half a message) and
/// reads SMTP replies back, so misbehaving clients can be played against the real server.
/// </summary>
public sealed class RawSmtpConnection : IAsyncDisposable
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[8192];
    private readonly StringBuilder _pending = new();

    private RawSmtpConnection(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawSmtpConnection> ConnectAsync(int port, CancellationToken cancellationToken)
    {
        var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, cancellationToken);
        return new RawSmtpConnection(client);
    }

    public Task SendLineAsync(string line, CancellationToken cancellationToken) =>
        SendAsync(Encoding.Latin1.GetBytes(line + "\r\n"), cancellationToken);

    public async Task SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken) =>
        await _stream.WriteAsync(bytes, cancellationToken);

    /// <summary>Sends a command and returns its (possibly multi-line) reply.</summary>
    public async Task<(int Code, string Text)> CommandAsync(string line, CancellationToken cancellationToken)
    {
        await SendLineAsync(line, cancellationToken);
        return await ReadReplyAsync(cancellationToken) ?? throw new IOException($"Connection closed after {line}");
    }

    /// <summary>The next complete reply (last line's code, all lines' text), or null when the server closed the connection.</summary>
    public async Task<(int Code, string Text)?> ReadReplyAsync(CancellationToken cancellationToken)
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken);
            if (line is null)
            {
                return null;
            }

            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return (int.Parse(line.AsSpan(0, 3), System.Globalization.CultureInfo.InvariantCulture), string.Join('\n', lines));
            }
        }
    }

    /// <summary>Every reply until the server closes the connection.</summary>
    public async Task<IReadOnlyList<(int Code, string Text)>> ReadUntilClosedAsync(CancellationToken cancellationToken)
    {
        var replies = new List<(int, string)>();
        while (await ReadReplyAsync(cancellationToken) is { } reply)
        {
            replies.Add(reply);
        }

        return replies;
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ReplyTimeout);
        while (true)
        {
            var text = _pending.ToString();
            var lf = text.IndexOf('\n', StringComparison.Ordinal);
            if (lf >= 0)
            {
                _pending.Remove(0, lf + 1);
                return text[..lf].TrimEnd('\r');
            }

            int read;
            try
            {
                read = await _stream.ReadAsync(_buffer, timeout.Token);
            }
            catch (IOException)
            {
                read = 0;
            }

            if (read == 0)
            {
                return null;
            }

            _pending.Append(Encoding.Latin1.GetString(_buffer, 0, read));
        }
    }

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
