using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>An IMAP server's tagged NO or BAD.</summary>
public sealed class ImapException(string message) : Exception(message);

/// <summary>
/// A tiny IMAP4rev1 client, enough to read delivered mail back the way a mail client does:
/// LOGIN, SELECT INBOX, FETCH n BODY.PEEK[] (with literal parsing), LOGOUT. Plain TCP only.
/// </summary>
public sealed partial class ImapMailbox : IAsyncDisposable
{
    /// <summary>Longest response line accepted (literals are separate and may be any size).</summary>
    public const int MaxLineLength = 64 * 1024;

    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;
    private int _nextTag;

    private ImapMailbox(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    /// <summary>The server's greeting line.</summary>
    public string Greeting { get; private set; } = string.Empty;

    /// <summary>Connects and reads the greeting.</summary>
    public static async Task<ImapMailbox> ConnectAsync(int port, CancellationToken cancellationToken, string host = "127.0.0.1")
    {
        var client = new TcpClient();
        try
        {
            await client.ConnectAsync(host, port, cancellationToken);
            var mailbox = new ImapMailbox(client);
            mailbox.Greeting = await mailbox.ReadLineAsync(cancellationToken);
            if (!mailbox.Greeting.StartsWith("* OK", StringComparison.OrdinalIgnoreCase))
            {
                throw new ImapException($"Unexpected greeting: {mailbox.Greeting}");
            }

            return mailbox;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Connects, logs in and selects INBOX.</summary>
    public static async Task<ImapMailbox> OpenInboxAsync(
        int port, string user, string password, CancellationToken cancellationToken)
    {
        var mailbox = await ConnectAsync(port, cancellationToken);
        try
        {
            await mailbox.LoginAsync(user, password, cancellationToken);
            mailbox.MessageCount = await mailbox.SelectInboxAsync(cancellationToken);
            return mailbox;
        }
        catch
        {
            await mailbox.DisposeAsync();
            throw;
        }
    }

    /// <summary>Messages in INBOX as of the last SELECT.</summary>
    public int MessageCount { get; private set; }

    public async Task LoginAsync(string user, string password, CancellationToken cancellationToken) =>
        await CommandAsync($"LOGIN {Quote(user)} {Quote(password)}", cancellationToken);

    /// <summary>Selects INBOX; returns how many messages it holds.</summary>
    public async Task<int> SelectInboxAsync(CancellationToken cancellationToken)
    {
        var exists = 0;
        await CommandAsync("SELECT INBOX", cancellationToken, onUntagged: line =>
        {
            var match = ExistsLine().Match(line);
            if (match.Success)
            {
                exists = int.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
            }
        });
        MessageCount = exists;
        return exists;
    }

    /// <summary>Copies message <paramref name="sequenceNumber"/> (1-based), exactly as stored, into <paramref name="destination"/>.</summary>
    public async Task<long> FetchToAsync(int sequenceNumber, Stream destination, CancellationToken cancellationToken)
    {
        long copied = -1;
        await CommandAsync(
            $"FETCH {sequenceNumber.ToString(CultureInfo.InvariantCulture)} BODY.PEEK[]",
            cancellationToken,
            onLiteral: async (line, length, token) =>
            {
                if (line.Contains("BODY[]", StringComparison.OrdinalIgnoreCase))
                {
                    await ReadLiteralAsync(length, destination, token);
                    copied = length;
                    return true;
                }

                return false;
            });
        if (copied < 0)
        {
            throw new ImapException($"FETCH {sequenceNumber} returned no BODY[].");
        }

        return copied;
    }

    /// <summary>Message <paramref name="sequenceNumber"/> (1-based), exactly as stored.</summary>
    public async Task<byte[]> FetchAsync(int sequenceNumber, CancellationToken cancellationToken)
    {
        using var message = new MemoryStream();
        await FetchToAsync(sequenceNumber, message, cancellationToken);
        return message.ToArray();
    }

    public Task LogoutAsync(CancellationToken cancellationToken) => CommandAsync("LOGOUT", cancellationToken);

    public ValueTask DisposeAsync()
    {
        _client.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task CommandAsync(
        string command,
        CancellationToken cancellationToken,
        Action<string>? onUntagged = null,
        Func<string, long, CancellationToken, Task<bool>>? onLiteral = null)
    {
        var tag = "d" + (++_nextTag).ToString(CultureInfo.InvariantCulture);
        await _stream.WriteAsync(Encoding.UTF8.GetBytes($"{tag} {command}\r\n"), cancellationToken);
        while (true)
        {
            var line = await ReadLineAsync(cancellationToken);

            // A line ending in {n} announces n raw bytes, after which the same response line goes on.
            var response = new StringBuilder(line);
            while (LiteralAnnouncement().Match(line) is { Success: true } literal)
            {
                var length = long.Parse(literal.Groups[1].ValueSpan, CultureInfo.InvariantCulture);
                var consumed = onLiteral is not null && await onLiteral(response.ToString(), length, cancellationToken);
                if (!consumed)
                {
                    await ReadLiteralAsync(length, Stream.Null, cancellationToken);
                }

                line = await ReadLineAsync(cancellationToken);
                response.Append(line);
            }

            var text = response.ToString();
            if (text.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                var status = text[(tag.Length + 1)..];
                if (!status.StartsWith("OK", StringComparison.OrdinalIgnoreCase))
                {
                    throw new ImapException($"{command.Split(' ')[0]} failed: {status}");
                }

                return;
            }

            onUntagged?.Invoke(text);
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        var line = new ArrayBufferWriter<byte>();
        while (true)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new ImapException("Connection closed by the server.");
            }

            var available = _buffer.AsSpan(_start, _end - _start);
            var lf = available.IndexOf((byte)'\n');
            var take = lf >= 0 ? lf + 1 : available.Length;
            if (line.WrittenCount + take > MaxLineLength)
            {
                throw new ImapException($"Response line longer than {MaxLineLength} bytes.");
            }

            line.Write(available[..take]);
            _start += take;
            if (lf >= 0)
            {
                return Encoding.UTF8.GetString(line.WrittenSpan).TrimEnd('\r', '\n');
            }
        }
    }

    private async Task ReadLiteralAsync(long length, Stream destination, CancellationToken cancellationToken)
    {
        var remaining = length;
        while (remaining > 0)
        {
            if (_start == _end && !await FillAsync(cancellationToken))
            {
                throw new ImapException($"Connection closed {remaining} bytes before the end of a literal.");
            }

            var take = (int)Math.Min(remaining, _end - _start);
            await destination.WriteAsync(_buffer.AsMemory(_start, take), cancellationToken);
            _start += take;
            remaining -= take;
        }
    }

    private async Task<bool> FillAsync(CancellationToken cancellationToken)
    {
        _start = 0;
        _end = await _stream.ReadAsync(_buffer, cancellationToken);
        return _end > 0;
    }

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    [GeneratedRegex(@"\{(\d{1,12})\}$")]
    private static partial Regex LiteralAnnouncement();

    [GeneratedRegex(@"^\* (\d+) EXISTS", RegexOptions.IgnoreCase)]
    private static partial Regex ExistsLine();
}
