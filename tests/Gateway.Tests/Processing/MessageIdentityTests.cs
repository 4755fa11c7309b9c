using System.Text;
using Detach.Gateway.Processing;
using Detach.Mime;

namespace Detach.Gateway.Tests.Processing;

public class MessageIdentityTests
{
    private static async Task<MessageHeaders> HeadersOfAsync(string message)
    {
        var structure = await MimeStructure.ParseAsync(new MemoryStream(Encoding.ASCII.GetBytes(message)), cancellationToken: TestContext.Current.CancellationToken);
        return new MessageHeaders(structure.Root.Headers);
    }

    [Fact]
    public async Task Reads_message_id_and_from_domain_across_folding()
    {
        var headers = await HeadersOfAsync("Received: from x\r\n\tby y\r\nFrom: \"Ann, Sales\"\r\n <Ann@Example.COM>\r\nMessage-ID:\r\n <abc@example.com>\r\n\r\nMessage-ID: <body@example.com>\r\n");
        var context = MessageIdentity.Of(headers, new MessageEnvelope(null, 0));
        Assert.Equal("<abc@example.com>", context.MessageId);
        Assert.Equal("example.com", context.SenderDomain);
        Assert.Equal(1, context.RecipientCount);
    }

    [Fact]
    public async Task Stops_at_the_end_of_the_header_block_and_prefers_the_envelope_sender()
    {
        var headers = await HeadersOfAsync("Subject: x\n\nFrom: late@example.org\nMessage-ID: <late@example.org>\n");
        Assert.Null(MessageIdentity.MessageIdOf(headers));
        var context = MessageIdentity.Of(headers, new MessageEnvelope("bounce@lists.example.net", 3));
        Assert.EndsWith("@detach.invalid>", context.MessageId, StringComparison.Ordinal);
        Assert.Equal("lists.example.net", context.SenderDomain);
        Assert.Equal(3, context.RecipientCount);
    }

    [Theory]
    [InlineData("ann@example.com", "example.com")]
    [InlineData("<>", null)]
    [InlineData("Ann <ann@sub.example.co.uk> (work)", "sub.example.co.uk")]
    [InlineData("no address", null)]
    public void Domain_of(string address, string? domain) => Assert.Equal(domain, MessageIdentity.DomainOf(address));
}
