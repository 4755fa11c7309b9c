using System.Text;

namespace Detach.Mime.Tests;

/// <summary>
/// Past a parser limit the rewriter cannot see what lies there, so an attachment hidden past it would stay in the
/// mail. Policy:WhenLimitExceeded says what then: deliver with a trace saying why (the default), or refuse.
/// </summary>
public class LimitPolicyTests
{
    /// <summary>A 6000-byte PDF attachment hidden past each of the default limits.</summary>
    public static TheoryData<string, string> PastEachLimit() => new()
    {
        { "depth", "nesting deeper than 100 levels" },
        { "parts", "more than 10000 parts" },
        { "field", "a header field over 64 KiB" },
        { "block", "a header block over 256 KiB" },
    };

    private static byte[] MessagePast(string limit)
    {
        string attachment = "Content-Type: application/pdf; name=hidden.pdf\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n";
        string body = "\r\n" + MessageBuilder.Base64Lines(MessageBuilder.RandomBytes(6000)) + "\r\n";
        var sb = new StringBuilder("From: a@example.org\r\nSubject: past a limit\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n");
        switch (limit)
        {
            case "depth":
                for (int i = 1; i <= 101; i++)
                {
                    sb.Append("--b").Append(i - 1).Append("\r\nContent-Type: multipart/mixed; boundary=\"b").Append(i).Append("\"\r\n\r\n");
                }

                sb.Append("--b101\r\n").Append(attachment).Append(body);
                for (int i = 101; i >= 1; i--)
                {
                    sb.Append("--b").Append(i).Append("--\r\n");
                }

                break;
            case "parts":
                for (int i = 0; i < 10_000; i++)
                {
                    sb.Append("--b0\r\n\r\nx\r\n");
                }

                sb.Append("--b0\r\n").Append(attachment).Append(body);
                break;
            case "field":
                sb.Append("--b0\r\n").Append(attachment).Append("X-Long: ").Append(new string('x', 70 * 1024)).Append("\r\n").Append(body);
                break;
            case "block":
                sb.Append("--b0\r\n").Append(attachment);
                for (int i = 0; i < 3000; i++)
                {
                    sb.Append("X-Filler-").Append(i).Append(": ").Append(new string('y', 100)).Append("\r\n");
                }

                sb.Append(body);
                break;
        }
        sb.Append("--b0--\r\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    [Theory]
    [MemberData(nameof(PastEachLimit))]
    public async Task By_default_the_message_is_delivered_as_it_came_with_a_trace_saying_why(string limit, string reason)
    {
        byte[] input = MessagePast(limit);
        var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions());
        Assert.Empty(sink.Items);
        Assert.Equal(reason, result.LimitExceeded);
        Mail.AssertPassedThroughPastLimit(input, output, reason);
    }

    [Theory]
    [MemberData(nameof(PastEachLimit))]
    public async Task Reject_and_TempFail_refuse_the_message_before_anything_is_stored(string limit, string reason)
    {
        byte[] input = MessagePast(limit);
        foreach (var action in new[] { LimitExceededAction.Reject, LimitExceededAction.TempFail })
        {
            var sink = new RecordingSink();
            var rewriter = new MimeRewriter(new DetachPolicyOptions { WhenLimitExceeded = action }, sink);
            var refused = await Assert.ThrowsAsync<MimeLimitExceededException>(() => rewriter.PrepareAsync(new MemoryStream(input), TestContext.Current.CancellationToken));
            Assert.Equal(reason, refused.Limit);
            Assert.Equal(action, refused.Action);
            Assert.Empty(sink.Items);
        }
    }

    [Fact]
    public async Task What_lies_within_the_limits_is_still_detached_and_the_trace_says_both()
    {
        byte[] visible = MessageBuilder.RandomBytes(9000);
        string message = MessageBuilder.WithAttachment(visible).Replace("--b1--", "--b1\r\nContent-Type: application/zip; name=big-header.zip\r\nX-Long: "
            + new string('z', 70 * 1024) + "\r\n\r\n" + new string('q', 5000) + "\r\n--b1--", StringComparison.Ordinal);
        byte[] input = Encoding.ASCII.GetBytes(message);
        var (output, result, sink) = await Mail.RewriteAsync(input, new DetachPolicyOptions());
        Assert.Equal(visible, Assert.Single(sink.Items).Content);
        Assert.StartsWith("X-Detach: 1 attachment, 9.0 kB; parser limit exceeded (a header field over 64 KiB)\r\n", Encoding.ASCII.GetString(output), StringComparison.Ordinal);
        Assert.Contains("X-Long: " + new string('z', 70 * 1024) + "\r\n\r\n" + new string('q', 5000), Encoding.ASCII.GetString(output), StringComparison.Ordinal);
        Assert.Equal("a header field over 64 KiB", result.LimitExceeded);
    }

    [Fact]
    public void The_policy_rejects_an_undefined_action() =>
        Assert.Contains("Policy:WhenLimitExceeded must be Deliver, Reject or TempFail.", new DetachPolicyOptions { WhenLimitExceeded = (LimitExceededAction)7 }.Validate());
}
