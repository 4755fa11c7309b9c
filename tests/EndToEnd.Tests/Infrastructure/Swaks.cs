using System.Globalization;

namespace Detach.EndToEnd.Tests.Infrastructure;

/// <summary>
/// One swaks run, built up fluently: <c>new Swaks(port).To(a, b).Attach(path).RunAsync(ct)</c>.
/// Arguments are passed verbatim (no shell quoting); the message data is left out of the transcript
/// unless <see cref="ShowData"/> is called, because attachments can be tens of megabytes.
/// </summary>
public sealed class Swaks
{
    private readonly List<string> _arguments = [];
    private readonly List<string> _recipients = [];
    private TimeSpan _timeout = TimeSpan.FromSeconds(120);
    private bool _showData;

    /// <summary>A run against <paramref name="host"/>:<paramref name="port"/> (plain SMTP unless <see cref="Lmtp"/>).</summary>
    public Swaks(int port, string host = "127.0.0.1")
    {
        _arguments.AddRange(["--server", $"{host}:{port.ToString(CultureInfo.InvariantCulture)}"]);
        From("sender@client.test");
        Helo("client.example.test");

        // swaks' own default (30 s per reply) is shorter than detach may take to store a large attachment.
        Timeout(_timeout);
    }

    /// <summary>The arguments swaks will get, recipients included.</summary>
    public IReadOnlyList<string> Arguments =>
        [.. _arguments, .. _recipients.Count > 0 ? new[] { "--to", string.Join(',', _recipients) } : [],
            .. _showData ? Array.Empty<string>() : ["--suppress-data"]];

    /// <summary>Adds envelope recipients (one RCPT TO each); also used for the To: header swaks writes.</summary>
    public Swaks To(params string[] recipients)
    {
        _recipients.AddRange(recipients);
        return this;
    }

    /// <summary>Sets the envelope sender (MAIL FROM) and From: header.</summary>
    public Swaks From(string sender) => Set("--from", sender);

    /// <summary>Sets the EHLO/LHLO name.</summary>
    public Swaks Helo(string name) => Set("--helo", name);

    /// <summary>Attaches a file, as application/octet-stream unless <paramref name="contentType"/> is given.</summary>
    public Swaks Attach(string path, string? contentType = null, string? fileName = null)
    {
        if (contentType is not null)
        {
            _arguments.AddRange(["--attach-type", contentType]);
        }

        if (fileName is not null)
        {
            _arguments.AddRange(["--attach-name", fileName]);
        }

        _arguments.AddRange(["--attach", "@" + path]);
        return this;
    }

    /// <summary>Sets the text body (the first MIME part when there are attachments).</summary>
    public Swaks Body(string text) => Set("--body", text);

    /// <summary>Adds or replaces a header, e.g. <c>Header("Subject", "hello")</c>.</summary>
    public Swaks Header(string name, string value)
    {
        _arguments.AddRange(["--header", $"{name}: {value}"]);
        return this;
    }

    /// <summary>Sends the file's bytes as the whole DATA (headers and body), instead of a generated message.</summary>
    public Swaks DataFromFile(string path) => Set("--data", "@" + path);

    /// <summary>Sends MAIL/RCPT/DATA in one PIPELINING group.</summary>
    public Swaks Pipeline() => Add("--pipeline");

    /// <summary>Speaks LMTP (LHLO, one reply per recipient after the data).</summary>
    public Swaks Lmtp() => Set("--protocol", "LMTP");

    /// <summary>Stops after the given step (e.g. <c>RCPT</c>), then QUITs.</summary>
    public Swaks QuitAfter(string stopPoint) => Set("--quit-after", stopPoint);

    /// <summary>Keeps the message data in the transcript.</summary>
    public Swaks ShowData()
    {
        _showData = true;
        return this;
    }

    /// <summary>swaks' own per-reply timeout (default 120 s); the process is killed a minute after it.</summary>
    public Swaks Timeout(TimeSpan timeout)
    {
        _timeout = timeout;
        return Set("--timeout", $"{(long)timeout.TotalSeconds}s");
    }

    /// <summary>Any other swaks arguments, verbatim.</summary>
    public Swaks Add(params string[] arguments)
    {
        _arguments.AddRange(arguments);
        return this;
    }

    /// <summary>Runs swaks to the end. A non-zero exit is a result, not an exception: tests check refusals.</summary>
    public async Task<SwaksResult> RunAsync(CancellationToken cancellationToken)
    {
        var swaks = PeerBinaries.RequireSwaks();

        // swaks writes replies to stdout and error replies (<**) to stderr; one stream keeps them in order.
        var result = await ChildProcess.RunAsync(
            "/bin/sh",
            ["-c", "exec \"$0\" \"$@\" 2>&1", swaks, .. Arguments],
            _timeout + TimeSpan.FromMinutes(1),
            cancellationToken);
        return new SwaksResult(result.ExitCode, result.StandardOutput);
    }

    private Swaks Set(string option, string value)
    {
        var at = _arguments.IndexOf(option);
        if (at >= 0 && option is not "--header")
        {
            _arguments[at + 1] = value;
        }
        else
        {
            _arguments.AddRange([option, value]);
        }

        return this;
    }
}
