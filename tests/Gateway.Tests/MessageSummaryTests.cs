using System.Text;
using Detach.Gateway.Processing;

namespace Detach.Gateway.Tests;

public class MessageSummaryTests
{
    [Fact]
    public void Reads_message_id_and_from_domain_across_folding()
    {
        var head = Encoding.ASCII.GetBytes("Received: from x\r\n\tby y\r\nFrom: \"Ann, Sales\"\r\n <Ann@Example.COM>\r\nMessage-ID:\r\n <abc@example.com>\r\n\r\nMessage-ID: <body@example.com>\r\n");
        var summary = MessageSummary.Parse(head);
        Assert.Equal("<abc@example.com>", summary.MessageId);
        Assert.Equal("example.com", summary.FromDomain);
    }

    [Fact]
    public void Stops_at_the_end_of_the_header_block_with_lf_only()
    {
        var summary = MessageSummary.Parse(Encoding.ASCII.GetBytes("Subject: x\n\nFrom: late@example.org\n"));
        Assert.Null(summary.MessageId);
        Assert.Null(summary.FromDomain);
    }

    [Theory]
    [InlineData("ann@example.com", "example.com")]
    [InlineData("<>", null)]
    [InlineData("Ann <ann@sub.example.co.uk> (work)", "sub.example.co.uk")]
    [InlineData("no address", null)]
    public void Domain_of(string address, string? domain) => Assert.Equal(domain, MessageSummary.DomainOf(address));
}
