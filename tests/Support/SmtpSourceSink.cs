using System.Globalization;

namespace Detach.Tests.Support;

/// <summary>What <see cref="SmtpSource"/> sends.</summary>
public sealed record SmtpSourceOptions
{
    /// <summary>Messages in all (-m).</summary>
    public int Messages { get; init; } = 1;

    /// <summary>Parallel sessions (-s).</summary>
    public int Sessions { get; init; } = 1;

    /// <summary>Recipients per message (-r); with more than one, smtp-source numbers them (1alice@…, 2alice@…).</summary>
    public int RecipientsPerMessage { get; init; } = 1;

    /// <summary>Generated payload bytes per message (-l); ignored when <see cref="MessageFile"/> is set.</summary>
    public int MessageLength { get; init; } = 1024;

    /// <summary>A pre-formatted message (headers and body) sent as each message's data (-F).</summary>
    public string? MessageFile { get; init; }

    public string From { get; init; } = "bench@client.test";

    public string To { get; init; } = "alice@example.test";

    /// <summary>Keep one connection per session for all its messages (-d) instead of one connection per message.</summary>
    public bool ReuseConnections { get; init; }

    /// <summary>Speak LMTP (-L).</summary>
    public bool Lmtp { get; init; }
}

/// <summary>Postfix's smtp-source load generator (bench and load tests; see SMTPD_PROXY_README's sizing advice).</summary>
public static class SmtpSource
{
    /// <summary>Sends the messages to 127.0.0.1:<paramref name="port"/>; a non-zero exit or "fatal" output means a failure.</summary>
    public static Task<ProcessResult> RunAsync(
        int port, SmtpSourceOptions options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var smtpSource = InstalledPrograms.Require("smtp-source", "postfix");
        var arguments = new List<string>
        {
            "-m", Invariant(options.Messages),
            "-s", Invariant(options.Sessions),
            "-r", Invariant(options.RecipientsPerMessage),
            "-f", options.From,
            "-t", options.To,
            "-M", "client.example.test",
        };
        if (options.MessageFile is not null)
        {
            arguments.AddRange(["-F", options.MessageFile]);
        }
        else
        {
            arguments.AddRange(["-l", Invariant(options.MessageLength)]);
        }

        if (options.ReuseConnections)
        {
            arguments.Add("-d");
        }

        if (options.Lmtp)
        {
            arguments.Add("-L");
        }

        if (options.RecipientsPerMessage > 1)
        {
            arguments.Add("-N");
        }

        arguments.Add($"127.0.0.1:{Invariant(port)}");
        return ChildProcess.RunAsync(smtpSource, arguments, timeout, cancellationToken);
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Postfix's smtp-sink: an SMTP (or LMTP) server on 127.0.0.1 that accepts everything, for benchmarks that
/// need a next hop faster than any real MTA. With a dump folder it writes each transaction to a file.
/// </summary>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly ChildProcess _process;
    private readonly string? _dumpDirectory;

    private SmtpSink(ChildProcess process, int port, string? dumpDirectory)
    {
        _process = process;
        Port = port;
        _dumpDirectory = dumpDirectory;
    }

    public int Port { get; }

    /// <summary>Starts smtp-sink (as user nobody when run as root); <paramref name="keepMessages"/> dumps each transaction to a file.</summary>
    public static async Task<SmtpSink> StartAsync(bool keepMessages, CancellationToken cancellationToken, bool lmtp = false)
    {
        var smtpSink = InstalledPrograms.Require("smtp-sink", "postfix");
        var port = FreePort.Next();
        string? dumpDirectory = null;

        // Run as root, smtp-sink refuses to start without -u; it drops to that user after binding.
        var arguments = InstalledPrograms.IsRoot ? new List<string> { "-u", "nobody" } : [];
        if (keepMessages)
        {
            dumpDirectory = Directory.CreateTempSubdirectory("detach-smtp-sink-").FullName;
            if (InstalledPrograms.IsRoot)
            {
                (await ChildProcess.RunAsync("chown", ["nobody", dumpDirectory], TimeSpan.FromSeconds(10), cancellationToken))
                    .EnsureSuccess();
            }

            arguments.AddRange(["-d", Path.Combine(dumpDirectory, "%H%M%S.")]);
        }

        if (lmtp)
        {
            arguments.Add("-L");
        }

        arguments.AddRange([$"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}", "256"]);
        var process = ChildProcess.Start(smtpSink, arguments);
        var sink = new SmtpSink(process, port, dumpDirectory);
        try
        {
            await FreePort.WaitUntilListeningAsync(port, TimeSpan.FromSeconds(10), cancellationToken);
            return sink;
        }
        catch (TimeoutException e)
        {
            await sink.DisposeAsync();
            throw new InvalidOperationException($"smtp-sink did not start: {process.StandardError}", e);
        }
    }

    /// <summary>The dumped transactions so far (empty without a dump folder).</summary>
    public IReadOnlyList<string> MessageFiles =>
        _dumpDirectory is null ? [] : [.. Directory.EnumerateFiles(_dumpDirectory).Order(StringComparer.Ordinal)];

    /// <summary>
    /// The dumped transactions' text once at least <paramref name="count"/> are there (smtp-sink writes each after
    /// its reply to the final dot); throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.
    /// </summary>
    public async Task<IReadOnlyList<string>> WaitForMessagesAsync(int count, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (MessageFiles.Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"smtp-sink dumped {MessageFiles.Count} of {count} messages in {timeout.TotalSeconds:0.#} s.");
            }

            await Task.Delay(50, cancellationToken);
        }

        // A dump is written in pieces: give the last one a moment to be complete.
        await Task.Delay(100, cancellationToken);
        return [.. MessageFiles.Select(File.ReadAllText)];
    }

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        if (_dumpDirectory is not null && !TestDirectories.Kept)
        {
            Directory.Delete(_dumpDirectory, recursive: true);
        }
    }
}
