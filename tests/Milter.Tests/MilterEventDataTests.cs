using System.Buffers;
using Detach.Smtp.Tests;

namespace Detach.Milter.Tests;

public sealed class MilterEventDataTests
{
    [Fact]
    public void A_connect_frame_gives_host_family_port_and_address_at_any_split()
    {
        var data = TestMta.Connect("mail.example.org", "192.0.2.7", 2525)[5..];
        for (int cut = 0; cut <= data.Length; cut++)
        {
            Assert.Equal(new MilterClient("mail.example.org", '4', 2525, "192.0.2.7"), MilterEventData.Client(SplitSequence.Create(data, cut)));
        }
    }

    [Fact]
    public void A_command_line_submission_has_no_port_or_address()
    {
        var data = TestMta.Strings("localhost").Append((byte)'U').ToArray();
        Assert.Equal(new MilterClient("localhost", 'U', 0, ""), MilterEventData.Client(new ReadOnlySequence<byte>(data)));
    }

    [Theory]
    [InlineData(new byte[] { (byte)'h', (byte)'o', (byte)'s', (byte)'t' })]
    [InlineData(new byte[] { (byte)'h', 0, (byte)'4', 1 })]
    public void A_truncated_connect_frame_is_a_protocol_error(byte[] data) =>
        Assert.Throws<MilterProtocolException>(() => MilterEventData.Client(new ReadOnlySequence<byte>(data)));

    [Fact]
    public void The_address_of_MAIL_or_RCPT_loses_its_brackets_and_its_ESMTP_arguments()
    {
        Assert.Equal("ann@example.test", MilterEventData.Address(new ReadOnlySequence<byte>(TestMta.Strings("<ann@example.test>", "SIZE=100", "BODY=8BITMIME"))));
        Assert.Equal("", MilterEventData.Address(new ReadOnlySequence<byte>(TestMta.Strings("<>"))));
    }

    [Fact]
    public void A_header_frame_splits_at_its_NULs_and_needs_the_first()
    {
        var (name, value) = MilterEventData.Header(TestMta.Strings("Subject", " a\n\tb"));
        Assert.Equal("Subject"u8.ToArray(), name.ToArray());
        Assert.Equal(" a\n\tb"u8.ToArray(), value.ToArray());
        Assert.Throws<MilterProtocolException>(() => MilterEventData.Header("Subject"u8.ToArray()));
    }
}
