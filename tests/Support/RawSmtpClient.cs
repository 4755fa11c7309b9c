using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Detach.Tests.Support;

/// <summary>
/// One SMTP reply as a raw client reads it: the code of its last line, the enhanced status code its first line starts
/// with (taken off every line that repeats it, as RFC 3463 servers do), and the text of each line.
/// </summary>
public sealed record RawSmtpReply(int Code, string? EnhancedCode, IReadOnlyList<string> Lines)
{
    /// <summary>The text of all lines joined by a space.</summary>
    public string Text => string.Join(' ', Lines);

    /// <summary>2yz: the command succeeded.</summary>
    public bool IsPositiveCompletion => Code is >= 200 and < 300;

    /// <summary>The reply as it came on the wire, each line ending in CRLF.</summary>
    public override string ToString()
    {
        var wire = new StringBuilder();
        for (var i = 0; i < Lines.Count; i++)
        {
            var text = EnhancedCode is null ? Lines[i] : Lines[i].Length == 0 ? EnhancedCode : $"{EnhancedCode} {Lines[i]}";
            var last = i == Lines.Count - 1;
            wire.Append(Code.ToString(CultureInfo.InvariantCulture)).Append(last && text.Length == 0 ? "" : last ? " " : "-");
            wire.Append(text).Append("\r\n");
        }

        return wire.ToString();
    }

    /// <summary>Builds the reply from its lines as read ("250-first", "250 last"); throws on a line that is not a reply line.</summary>
    public static RawSmtpReply FromLines(IReadOnlyList<string> lines)
    {
        var code = 0;
        var texts = new List<string>(lines.Count);
        foreach (var line in lines)
        {
            if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out code)
                || (line.Length > 3 && line[3] is not (' ' or '-')))
            {
                throw new FormatException($"Not an SMTP reply line: {line}");
            }

            texts.Add(line.Length > 4 ? line[4..] : string.Empty);
        }

        var enhanced = EnhancedCodeOf(texts[0]);
        if (enhanced is not null && enhanced[0] - '0' == code / 100)
        {
            for (var i = 0; i < texts.Count; i++)
            {
                if (texts[i] == enhanced || texts[i].StartsWith(enhanced + " ", StringComparison.Ordinal))
                {
                    texts[i] = texts[i] == enhanced ? string.Empty : texts[i][(enhanced.Length + 1)..];
                }
            }
        }
        else
        {
            enhanced = null;
        }

        return new RawSmtpReply(code, enhanced, texts);
    }

    /// <summary>"class.subject.detail" at the start of <paramref name="text"/> (class 2, 4 or 5), or null.</summary>
    private static string? EnhancedCodeOf(string text)
    {
        var end = text.IndexOf(' ', StringComparison.Ordinal);
        var candidate = end < 0 ? text : text[..end];
        var fields = candidate.Split('.');
        return fields.Length == 3 && fields[0] is "2" or "4" or "5"
            && fields.Skip(1).All(f => f.Length is >= 1 and <= 3 && f.All(char.IsAsciiDigit))
            ? candidate
            : null;
    }
}

/// <summary>
/// A bare-bytes SMTP client for playing exactly the client a test needs against a server: well-behaved commands, or
/// garbage, over-long lines, pipelined bursts, half a message, a local address of its choosing (any of 127.0.0.0/8 on
/// Linux loopback). It reads replies with its own parser, independent of the server's code. Every reply read gives up
/// after <see cref="ReplyTimeout"/>, and everything stops with the test (TestContext's cancellation).
/// </summary>
public sealed class RawSmtpClient : IAsyncDisposable
{
    /// <summary>How long one reply may take before the read throws.</summary>
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The longest reply line accepted; a server that sends more is broken.</summary>
    private const int MaxLineLength = 64 * 1024;

    private readonly Socket _socket;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    private RawSmtpClient(Socket socket)
    {
        _socket = socket;
        Stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>The connection (after <see cref="Upgrade"/>, the TLS stream over it).</summary>
    public Stream Stream { get; private set; }

    /// <summary>Connects to <paramref name="endPoint"/>; unless told not to, reads the greeting and asserts it is 220.</summary>
    /// <param name="from">The local address to connect from.</param>
    public static async Task<RawSmtpClient> ConnectAsync(EndPoint endPoint, bool readGreeting = true, IPAddress? from = null)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }

            await socket.ConnectAsync(endPoint, Cancellation);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new RawSmtpClient(socket);
        if (readGreeting)
        {
            Assert.Equal(220, (await client.ReadReplyAsync()).Code);
        }

        return client;
    }

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/>, as <see cref="ConnectAsync(EndPoint, bool, IPAddress?)"/>.</summary>
    public static Task<RawSmtpClient> ConnectAsync(int port, bool readGreeting = true, IPAddress? from = null) =>
        ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), readGreeting, from);

    /// <summary>Sends <paramref name="text"/> as UTF-8, exactly (no line end added).</summary>
    public Task SendAsync(string text) =>
        SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Sends <paramref name="bytes"/> as they are.</summary>
    public async Task SendAsync(byte[] bytes)
    {
        await Stream.WriteAsync(bytes, Cancellation);
        await Stream.FlushAsync(Cancellation);
    }

    /// <summary>Sends <paramref name="line"/> and CRLF.</summary>
    public Task SendLineAsync(string line) =>
        SendAsync(line + "\r\n");

    /// <summary>Sends a command line and returns its reply.</summary>
    public async Task<RawSmtpReply> CommandAsync(string line)
    {
        await SendLineAsync(line);
        return await ReadReplyAsync();
    }

    /// <summary>
    /// After DATA's 354: sends a message (CRLF lines, dot-stuffed here) and the final dot, and returns the reply to it.
    /// </summary>
    public async Task<RawSmtpReply> SendDataAsync(byte[] message)
    {
        var text = Encoding.Latin1.GetString(message);
        var stuffed = (text.StartsWith('.') ? "." : string.Empty) + text.Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        var end = stuffed.EndsWith("\r\n", StringComparison.Ordinal) ? ".\r\n" : "\r\n.\r\n";
        await SendAsync(Encoding.Latin1.GetBytes(stuffed + end));
        return await ReadReplyAsync();
    }

    /// <summary>The next complete reply; throws <see cref="EndOfStreamException"/> when the server closed the connection.</summary>
    public async Task<RawSmtpReply> ReadReplyAsync() =>
        await TryReadReplyAsync() ?? throw new EndOfStreamException("The server closed the connection.");

    /// <summary>The codes of the next <paramref name="count"/> replies (after a pipelined burst).</summary>
    public async Task<int[]> ReadCodesAsync(int count)
    {
        var codes = new int[count];
        for (var i = 0; i < count; i++)
        {
            codes[i] = (await ReadReplyAsync()).Code;
        }

        return codes;
    }

    /// <summary>Every reply until the server closes the connection.</summary>
    public async Task<IReadOnlyList<RawSmtpReply>> ReadUntilClosedAsync()
    {
        var replies = new List<RawSmtpReply>();
        while (await TryReadReplyAsync() is { } reply)
        {
            replies.Add(reply);
        }

        return replies;
    }

    /// <summary>True once the server closed the connection (bytes it still sends before that are read and dropped).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
        timeout.CancelAfter(ReplyTimeout);
        while (await FillAsync(timeout.Token))
        {
            _start = _end;
        }

        return true;
    }

    /// <summary>Carries on over <paramref name="stream"/> (the TLS stream after STARTTLS); bytes read before are dropped.</summary>
    public void Upgrade(Stream stream)
    {
        Stream = stream;
        _start = _end = 0;
    }

    /// <summary>Closes the connection at once, mid-command if need be.</summary>
    public void Close() => _socket.Close();

    public async ValueTask DisposeAsync()
    {
        await Stream.DisposeAsync();
        _socket.Dispose();
    }

    /// <summary>The next reply, or null when the connection closed (or broke) before one began.</summary>
    private async Task<RawSmtpReply?> TryReadReplyAsync()
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancellation);
        timeout.CancelAfter(ReplyTimeout);
        var lines = new List<string>();
        while (await ReadLineAsync(timeout.Token) is { } line)
        {
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return RawSmtpReply.FromLines(lines);
            }
        }

        return lines.Count == 0 ? null : throw new EndOfStreamException($"The server closed the connection inside a reply: {string.Join(" | ", lines)}");
    }

    private async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new MemoryStream();
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                return null;
            }

            var available = _buffer.AsSpan(_start, _end - _start);
            var lf = available.IndexOf((byte)'\n');
            var take = lf >= 0 ? lf + 1 : available.Length;
            line.Write(available[..take]);
            _start += take;
            if (line.Length > MaxLineLength)
            {
                throw new InvalidDataException($"Reply line longer than {MaxLineLength} bytes.");
            }

            if (lf >= 0)
            {
                return Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length).TrimEnd('\n').TrimEnd('\r');
            }
        }
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        _start = 0;
        try
        {
            _end = await Stream.ReadAsync(_buffer, cancellationToken);
        }
        catch (IOException)
        {
            // A reset after the server's last reply is a close, as far as a test is concerned.
            _end = 0;
        }

        return _end > 0;
    }

    /// <summary>The running test's cancellation: a raw client lives and dies with the test that uses it.</summary>
    private static CancellationToken Cancellation => TestContext.Current.CancellationToken;
}
