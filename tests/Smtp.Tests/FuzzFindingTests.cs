using System.Buffers;
using System.Text;

namespace Detach.Smtp.Tests;

/// <summary>
/// What the smtp-command fuzz target found (inputs in fuzz/findings/smtp-command): commands the session accepted
/// but that, relayed as SmtpRelayClient writes them, the next hop would read as another command.
/// </summary>
public class FuzzFindingTests
{
    [Theory]
    [InlineData("a@example.org> SIZE=1000")]
    [InlineData("x<a@example.org")]
    [InlineData("\"e.o")]
    public void A_bare_path_with_brackets_or_quotes_is_refused(string path)
    {
        var error = SmtpCommandSyntax.TryParsePathAndParameters("FROM:" + path, "FROM:", "5.1.7", out _, out _, out _);
        Assert.NotNull(error);
    }

    [Fact]
    public void A_bare_path_still_parses_and_relays_as_itself()
    {
        Assert.Null(SmtpCommandSyntax.TryParsePathAndParameters("FROM:a@example.org SIZE=10", "FROM:", "5.1.7", out var path, out var raw, out _));
        Assert.Null(SmtpCommandSyntax.TryParsePathAndParameters($"FROM:<{path}> {raw}", "FROM:", "5.1.7", out var again, out var rawAgain, out _));
        Assert.Equal((path, raw), (again, rawAgain));
    }

    [Theory]
    [InlineData("MAIL FROM:<a@example.org\r> SIZE=1")]
    [InlineData("RCPT TO:<b@example.net> NOTIFY=NEVER\rX")]
    public void A_command_line_with_a_bare_cr_is_not_a_command(string line)
    {
        Assert.Null(SmtpSession.Decode(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(line))));
    }

    [Fact]
    public async Task The_session_answers_500_to_a_bare_cr_inside_a_command()
    {
        var backend = new TestBackend();
        await using ServerHost host = ServerHost.Start(backend);
        await using RawSmtpClient client = await RawSmtpClient.ConnectAsync(host.EndPoint);
        Assert.Equal(250, (await client.CommandAsync("EHLO c")).Code);
        Assert.Equal(500, (await client.CommandAsync("MAIL FROM:<a@example.org\r>")).Code);
        Assert.Equal(250, (await client.CommandAsync("MAIL FROM:<a@example.org>")).Code);
    }
}
