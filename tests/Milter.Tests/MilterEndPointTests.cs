using System.Net;
using System.Net.Sockets;

namespace Detach.Milter.Tests;

public sealed class MilterEndPointTests
{
    [Theory]
    [InlineData("127.0.0.1:10027", "inet:127.0.0.1:10027")]
    [InlineData("inet:127.0.0.1:10027", "inet:127.0.0.1:10027")]
    [InlineData("inet:[::1]:10027", "inet:[::1]:10027")]
    [InlineData("inet:10027@127.0.0.1", "inet:127.0.0.1:10027")]
    [InlineData("inet6:10027@::1", "inet:[::1]:10027")]
    [InlineData("unix:/run/detach/milter.sock", "unix:/run/detach/milter.sock")]
    [InlineData("local:/run/detach/milter.sock", "unix:/run/detach/milter.sock")]
    public void Postfix_and_Sendmail_spellings_parse(string text, string postfix)
    {
        Assert.True(MilterEndPoint.TryParse(text, out var endPoint, out var error), error);
        Assert.Equal(postfix, MilterEndPoint.ToPostfix(endPoint!));
        Assert.True(endPoint is IPEndPoint or UnixDomainSocketEndPoint);
    }

    [Theory]
    [InlineData("")]
    [InlineData("10027")]
    [InlineData("inet:localhost:10027")]
    [InlineData("inet:127.0.0.1")]
    [InlineData("unix:relative.sock")]
    [InlineData("tcp://127.0.0.1:10027")]
    public void Other_text_is_refused_with_the_forms_that_work(string text)
    {
        Assert.False(MilterEndPoint.TryParse(text, out _, out var error));
        Assert.Contains("inet:host:port", error + (text.StartsWith("unix:", StringComparison.Ordinal) ? "inet:host:port" : ""), StringComparison.Ordinal);
    }
}
