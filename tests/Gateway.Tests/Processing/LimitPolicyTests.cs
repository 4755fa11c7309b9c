using System.Diagnostics.Metrics;
using System.Net;
using System.Text;
using Detach.Gateway.Cli;
using Detach.Gateway.Hosting;
using Detach.Gateway.Metrics;
using Detach.Gateway.Processing;
using Detach.Gateway.SmtpFront;
using Detach.Gateway.Tests.Cli;
using Detach.Gateway.Tests.Download;
using Detach.Gateway.Tests.Serve;
using Detach.Mime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Detach.Gateway.Tests.Processing;

/// <summary>
/// Anyone could opt a mail out of detaching by nesting its attachment deeper than the parser looks (issue 11, item 6):
/// Policy:WhenLimitExceeded decides, and each front says so in its own terms, with a log line and a metric.
/// </summary>
public sealed class LimitPolicyTests
{
    private const string Limit = "nesting deeper than 100 levels";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A 50 KB attachment inside 120 nested multiparts.</summary>
    private static byte[] DeepMessage(string messageId = "<deep@example.com>")
    {
        var sb = new StringBuilder($"From: ann@example.com\r\nTo: bob@example.test\r\nMessage-ID: {messageId}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
        for (var i = 1; i <= 120; i++)
        {
            sb.Append($"--b{i - 1}\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n");
        }

        sb.Append("--b120\r\nContent-Type: application/pdf; name=\"deep.pdf\"\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n")
          .Append(Convert.ToBase64String(DataFolder.RandomBytes(50_000, 9), Base64FormattingOptions.InsertLineBreaks)).Append("\r\n");
        for (var i = 120; i >= 0; i--)
        {
            sb.Append($"--b{i}--\r\n");
        }

        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    [Theory]
    [InlineData(null, ExitCodes.Ok)]
    [InlineData("Reject", ExitCodes.DataError)]
    [InlineData("TempFail", ExitCodes.TempFail)]
    public async Task Detach_filter_delivers_with_a_trace_or_exits_with_a_permanent_or_temporary_failure(string? action, int exit)
    {
        using var data = new DataFolder();
        var settings = action is null ? data.Settings() : data.Settings($"Policy:WhenLimitExceeded={action}");
        var input = DeepMessage();
        var output = new MemoryStream();
        var error = new StringWriter();

        Assert.Equal(exit, await FilterCommand.RunAsync(settings, new MemoryStream(input), output, [], new MessageEnvelope("ann@example.com", 1), error, Ct));

        if (action is null)
        {
            Assert.Equal([.. Encoding.ASCII.GetBytes($"X-Detach: parser limit exceeded ({Limit})\r\n"), .. input], output.ToArray());
        }
        else
        {
            Assert.Equal(0, output.Length);
            Assert.Contains(action == "Reject" ? "554 5.6.0" : "451 4.6.0", error.ToString(), StringComparison.Ordinal);
            Assert.Contains(Limit, error.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(null, "deliver")]
    [InlineData("Reject", "reject")]
    [InlineData("TempFail", "tempfail")]
    public async Task Each_action_leaves_one_log_line_and_counts_in_the_metric(string? action, string tag)
    {
        using var data = new DataFolder();
        var settings = action is null ? data.Settings() : data.Settings($"Policy:WhenLimitExceeded={action}");
        await using var components = await VaultComponents.OpenAsync(settings, Ct);
        using var metrics = new DetachMetrics();
        var counted = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == metrics.Meter && instrument.Name == "detach.messages.limit_exceeded")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => counted.Add($"{value} {tags[0].Key}={tags[0].Value}"));
        listener.Start();
        using var logs = new CapturedLogs();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        var detacher = new MessageDetacher(components.Vault, settings, metrics, loggers.CreateLogger<MessageDetacher>());

        try
        {
            await using var message = await detacher.PrepareAsync(new MemoryStream(DeepMessage()), new MessageEnvelope("ann@example.com", 1, "4ABC123"), Ct);
            Assert.Null(action);
            Assert.Equal(Limit, message.Result.LimitExceeded);
        }
        catch (MessageRefusedException e)
        {
            Assert.NotNull(action);
            Assert.Equal(action == "Reject" ? 554 : 451, e.Reply.Code);
        }

        Assert.Equal([$"1 action={tag}"], counted);
        var line = Assert.Single(logs.Lines, l => l.Contains(Limit, StringComparison.Ordinal));
        Assert.StartsWith("Warning", line, StringComparison.Ordinal);
        Assert.Contains("4ABC123", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Reject", "554 5.6.0")]
    [InlineData("TempFail", "451 4.6.0")]
    public async Task The_smtp_front_answers_the_final_dot_and_the_session_goes_on(string action, string reply)
    {
        using var data = new DataFolder();
        var settings = data.Settings("Smtp:Listen=127.0.0.1:0", "Gateway:Listen=http://127.0.0.1:0", $"Policy:WhenLimitExceeded={action}");
        await using var app = await DetachHost.BuildAsync(settings, Ct);
        await app.StartAsync(Ct);
        try
        {
            var endPoint = (IPEndPoint)app.Services.GetRequiredService<SmtpFrontService>().LocalEndPoints.Single();
            await using var smtp = await RawSmtpClient.ConnectAsync(endPoint);
            await smtp.CommandAsync("EHLO client.example.test");
            await smtp.CommandAsync("MAIL FROM:<ann@example.com>");
            await smtp.CommandAsync("RCPT TO:<bob@example.test>");
            Assert.Equal(354, (await smtp.CommandAsync("DATA")).Code);
            var answer = (await smtp.SendDataAsync(DeepMessage())).ToString();
            Assert.StartsWith(reply, answer, StringComparison.Ordinal);
            Assert.Contains(Limit, answer, StringComparison.Ordinal);

            // The session goes on, and a message within the limits is delivered.
            Assert.Equal(250, (await smtp.CommandAsync("MAIL FROM:<ann@example.com>")).Code);
            await smtp.CommandAsync("RCPT TO:<bob@example.test>");
            await smtp.CommandAsync("DATA");
            Assert.Equal(250, (await smtp.SendDataAsync(DataFolder.MessageWith(DataFolder.RandomBytes(10_000, 1)))).Code);
            Assert.Single(Directory.GetFiles(Path.Combine(data.Path, "maildir", "new")));
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
        }
    }
}
