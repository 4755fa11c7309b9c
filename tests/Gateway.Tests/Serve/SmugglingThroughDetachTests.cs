using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Detach.Gateway.Hosting;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Gateway.Tests.Download;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Tests.Serve;

/// <summary>
/// The SMTP smuggling matrix through `detach serve`: each end-of-data lookalike, followed by a whole second transaction,
/// sent over DATA and over BDAT, to a next hop taking DATA, one taking BDAT, and the Maildir. Exactly one message
/// arrives, and nobody ever answers the smuggled MAIL. The relaying next hop is the most lenient reader there is: it
/// ends lines (and data) at CR, at LF and at CRLF alike.
/// </summary>
public abstract class SmugglingThroughDetachTests : IAsyncLifetime
{
    private readonly DataFolder _data = new();
    private WebApplication _app = null!;

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected string DataPath => _data.Path;

    /// <summary>Null for the Maildir.</summary>
    protected LenientNextHop? NextHop { get; set; }

    public static TheoryData<string, bool> Cases()
    {
        var cases = new TheoryData<string, bool>();
        foreach (var lookalike in new[] { "\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r", "\r.\r", "\r\n.\r\r\n", "\r\n.\0\r\n", "\n..\n" })
        {
            cases.Add(lookalike, false);
            cases.Add(lookalike, true);
        }

        return cases;
    }

    public async ValueTask InitializeAsync()
    {
        string[] nextHop = NextHop is null ? [] : [$"Smtp:NextHop=smtp://127.0.0.1:{NextHop.Port}", "Smtp:NextHopPoolSize=0"];
        _app = await DetachHost.BuildAsync(_data.Settings(["Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0", .. nextHop]), Ct);
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        if (NextHop is not null)
        {
            await NextHop.DisposeAsync();
        }

        _data.Dispose();
    }

    private IPEndPoint Front => (IPEndPoint)_app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();

    /// <summary>Sends one smuggling message and returns its tag; asserts the replies are exactly those of one transaction.</summary>
    protected async Task<string> SmuggleAsync(string lookalike, bool bdat)
    {
        var tag = Guid.NewGuid().ToString("N");
        var message = Encoding.ASCII.GetBytes(
            $"Subject: first {tag}\r\n\r\nbody" + lookalike +
            "MAIL FROM:<evil@example.org>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n");
        await using var client = await RawSmtpClient.ConnectAsync(Front);
        await client.SendAsync($"EHLO client.example.test\r\nMAIL FROM:<ann-{tag}@example.com>\r\nRCPT TO:<bob@example.test>\r\n");
        Assert.Equal(new[] { 250, 250, 250 }, await client.ReadCodesAsync(3));

        if (bdat)
        {
            await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {message.Length} LAST\r\n"), .. message]);
        }
        else
        {
            Assert.Equal(354, (await client.CommandAsync("DATA")).Code);
            await client.SendAsync(message); // it ends with the final CRLF.CRLF itself
        }

        Assert.Equal(250, (await client.ReadReplyAsync()).Code);
        Assert.Equal(221, (await client.CommandAsync("QUIT")).Code);
        return tag;
    }
}

public sealed class SmugglingToDataNextHopTests : SmugglingThroughDetachTests
{
    public SmugglingToDataNextHopTests() => NextHop = LenientNextHop.Start(chunking: false);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task One_message_reaches_the_next_hop(string lookalike, bool bdat) => NextHop!.AssertOneMessage(await SmuggleAsync(lookalike, bdat));
}

public sealed class SmugglingToBdatNextHopTests : SmugglingThroughDetachTests
{
    public SmugglingToBdatNextHopTests() => NextHop = LenientNextHop.Start(chunking: true);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task One_message_reaches_the_next_hop(string lookalike, bool bdat) => NextHop!.AssertOneMessage(await SmuggleAsync(lookalike, bdat));
}

public sealed class SmugglingToMaildirTests : SmugglingThroughDetachTests
{
    [Theory]
    [MemberData(nameof(Cases))]
    public async Task One_message_reaches_the_maildir(string lookalike, bool bdat)
    {
        var tag = await SmuggleAsync(lookalike, bdat);
        var delivered = Directory.GetFiles(Path.Combine(DataPath, "maildir", "new")).Select(File.ReadAllText).Where(m => m.Contains(tag, StringComparison.Ordinal)).ToList();
        Assert.Contains("evil", Assert.Single(delivered), StringComparison.Ordinal);
    }
}

/// <summary>
/// A malformed path (here with bare CRs, which a server ending lines at CR would run as RSET) is the client's error:
/// a 5xx (500 5.5.2 for a CR anywhere in the line, 501 5.1.3 for another control character in the path) and one log
/// line without a stack trace; the session goes on. It used to reach the relay client, which threw, and the client
/// got 451 4.3.0 (and retried, forever).
/// </summary>
public sealed class MalformedPathTests : IAsyncLifetime
{
    private readonly DataFolder _data = new();
    private readonly CapturedLogs _logs = new();
    private readonly LenientNextHop _nextHop = LenientNextHop.Start(chunking: false);
    private WebApplication _app = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _app = await DetachHost.BuildAsync(_data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0",
            $"Smtp:NextHop=smtp://127.0.0.1:{_nextHop.Port}"), Ct, l => l.AddProvider(_logs));
        await _app.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
        await _nextHop.DisposeAsync();
        _data.Dispose();
    }

    [Fact]
    public async Task A_path_with_control_characters_gets_501_and_one_log_line()
    {
        var front = (IPEndPoint)_app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();
        await using var smtp = await RawSmtpClient.ConnectAsync(front);
        await smtp.CommandAsync("EHLO client.example.test");
        Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
        Assert.StartsWith("500 5.5.2", (await smtp.CommandAsync("RCPT TO:<b@example.test\rRSET\r>")).ToString(), StringComparison.Ordinal);
        Assert.StartsWith("501 5.1.3", (await smtp.CommandAsync("RCPT TO:<b@example.test\u0001RSET>")).ToString(), StringComparison.Ordinal);
        Assert.Equal(250, (await smtp.CommandAsync("RCPT TO:<b@example.test>")).Code);
        Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await smtp.SendDataAsync("Subject: fine\r\n\r\nhello\r\n"u8.ToArray())).Code);

        Assert.DoesNotContain(_nextHop.AllCommands, c => c.Contains("RSET", StringComparison.Ordinal) && !c.Equals("RSET", StringComparison.Ordinal));
        Assert.DoesNotContain(_logs.Lines, l => l.Contains("Exception", StringComparison.Ordinal));
        Assert.Single(_logs.Lines, l => l.Contains("(line) refused: 500", StringComparison.Ordinal));
        Assert.Single(_logs.Lines, l => l.Contains("RCPT refused: 501", StringComparison.Ordinal));
    }
}

/// <summary>
/// An SMTP next hop that reads as leniently as any server ever did: a command or data line ends at CR, at LF or at
/// CRLF, and data ends at the first line holding a lone dot (a NUL after the dot ends it too). It records every
/// command and every message of every connection.
/// </summary>
public sealed class LenientNextHop : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly bool _chunking;
    private readonly Task _accepting;

    private LenientNextHop(bool chunking)
    {
        this._chunking = chunking;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public static LenientNextHop Start(bool chunking) => new(chunking);

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public ConcurrentQueue<string> AllCommands { get; } = new();

    public ConcurrentQueue<string> Messages { get; } = new();

    /// <summary>Every connection detach opened has ended; then exactly one message carries <paramref name="tag"/>, and no smuggled MAIL was run.</summary>
    public void AssertOneMessage(string tag)
    {
        Assert.True(Task.WhenAll(_connections).Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken), "detach kept a next-hop connection open");
        Assert.Contains("evil", Assert.Single(Messages, m => m.Contains(tag, StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Single(AllCommands, c => c.Contains($"ann-{tag}", StringComparison.Ordinal));
        Assert.DoesNotContain(AllCommands, c => c.Contains("evil@example.org", StringComparison.Ordinal));
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _connections.Add(Task.Run(() => ServeAsync(client)));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        var input = new List<byte>();
        var buffer = new byte[65536];
        async Task Reply(string text) => await stream.WriteAsync(Encoding.ASCII.GetBytes(text), _stop.Token);
        await Reply("220 lenient.test ESMTP\r\n");
        List<byte>? message = null; // BDAT chunks so far
        bool inData = false;
        long bdatLeft = -1;
        bool bdatLast = false;
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(buffer, _stop.Token);
                if (n == 0)
                {
                    return;
                }

                input.AddRange(buffer.AsSpan(0, n));
                while (true)
                {
                    if (bdatLeft >= 0)
                    {
                        int take = (int)Math.Min(bdatLeft, input.Count);
                        message!.AddRange(input.GetRange(0, take));
                        input.RemoveRange(0, take);
                        bdatLeft -= take;
                        if (bdatLeft > 0)
                        {
                            break;
                        }

                        bdatLeft = -1;
                        if (bdatLast)
                        {
                            Messages.Enqueue(Encoding.Latin1.GetString(message.ToArray()));
                            message = null;
                        }

                        await Reply("250 2.0.0 Ok\r\n");
                        continue;
                    }

                    if (inData)
                    {
                        int end = LenientEndOfData(input);
                        if (end < 0)
                        {
                            break;
                        }

                        Messages.Enqueue(Encoding.Latin1.GetString(input.GetRange(0, end).ToArray()));
                        inData = false;
                        input.RemoveRange(0, end + 2); // the dot and one line-end byte; a CR's LF is an empty line next
                        await Reply("250 2.0.0 Ok: queued\r\n");
                        continue;
                    }

                    // A line ends at CR, LF or CRLF (one ending: BDAT octets start right after it).
                    int lineEnd = input.FindIndex(b => b is (byte)'\r' or (byte)'\n');
                    if (lineEnd < 0 || (input[lineEnd] == (byte)'\r' && lineEnd + 1 == input.Count))
                    {
                        break;
                    }

                    string line = Encoding.Latin1.GetString(input.GetRange(0, lineEnd).ToArray());
                    input.RemoveRange(0, lineEnd + (input[lineEnd] == (byte)'\r' && input[lineEnd + 1] == (byte)'\n' ? 2 : 1));
                    if (line.Length == 0)
                    {
                        continue;
                    }

                    AllCommands.Enqueue(line);
                    string verb = line.Split(' ')[0].ToUpperInvariant();
                    switch (verb)
                    {
                        case "EHLO":
                            await Reply("250-lenient.test\r\n250-PIPELINING\r\n" + (_chunking ? "250-CHUNKING\r\n" : "") + "250 8BITMIME\r\n");
                            break;
                        case "DATA":
                            inData = true;
                            await Reply("354 go ahead\r\n");
                            break;
                        case "BDAT":
                            string[] parts = line.Split(' ');
                            message ??= [];
                            bdatLeft = long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
                            bdatLast = parts.Length > 2;
                            break;
                        case "QUIT":
                            await Reply("221 bye\r\n");
                            return;
                        default:
                            await Reply("250 2.0.0 Ok\r\n");
                            break;
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // detach went away.
        }
    }

    /// <summary>The first lone dot at the start of a line in any reading (after CR, LF or at the start), followed by CR, LF or NUL; -1 if none yet.</summary>
    private static int LenientEndOfData(List<byte> data)
    {
        for (int i = 0; i + 1 < data.Count; i++)
        {
            bool lineStart = i == 0 || data[i - 1] is (byte)'\r' or (byte)'\n';
            if (lineStart && data[i] == (byte)'.' && data[i + 1] is (byte)'\r' or (byte)'\n' or 0)
            {
                return i;
            }
        }

        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        await Task.WhenAll(_connections);
        _stop.Dispose();
    }
}
