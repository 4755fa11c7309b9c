using System.Text;

namespace Detach.Milter.Tests;

public sealed class MilterSessionTests
{
    private const uint Needed = (uint)(MilterActions.AddHeaders | MilterActions.ChangeHeaders | MilterActions.ChangeBody);

    [Fact]
    public async Task Negotiation_with_Postfix_asks_for_no_replies_but_end_of_headers_and_keeps_leading_spaces()
    {
        await using var harness = SessionHarness.Start();
        var answer = await harness.NegotiateAsync();

        Assert.Equal('O', answer.Code);
        Assert.Equal(6u, answer.WordAt(0));
        Assert.Equal(Needed | (uint)MilterActions.SetMacroList, answer.WordAt(4));
        var options = (MilterProtocolOptions)answer.WordAt(8);
        Assert.Equal(
            MilterProtocolOptions.NoHelo | MilterProtocolOptions.NoData | MilterProtocolOptions.NoUnknown
            | MilterProtocolOptions.NoConnectReply | MilterProtocolOptions.NoHeloReply | MilterProtocolOptions.NoMailReply
            | MilterProtocolOptions.NoRecipientReply | MilterProtocolOptions.NoDataReply | MilterProtocolOptions.NoUnknownReply
            | MilterProtocolOptions.NoHeaderReply | MilterProtocolOptions.NoBodyReply | MilterProtocolOptions.HeaderLeadingSpace,
            options);
        Assert.False(options.HasFlag(MilterProtocolOptions.NoEndOfHeadersReply));

        // The macro list rides after the three words: stage 5 (end of message) wants "i".
        Assert.Equal((uint)MilterMacroStage.EndOfMessage, answer.WordAt(12));
        Assert.Equal("i\0", Encoding.ASCII.GetString(answer.Data, 16, answer.Data.Length - 16));
    }

    [Fact]
    public async Task An_old_MTA_gets_only_what_it_offered_and_a_reply_to_every_event()
    {
        await using var harness = SessionHarness.Start();
        var answer = await harness.NegotiateAsync(version: 2, actions: 0x3F, options: 0x7F);
        Assert.Equal(2u, answer.WordAt(0));
        Assert.Equal(Needed, answer.WordAt(4)); // no SETSYMLIST: not offered
        Assert.Equal((uint)MilterProtocolOptions.NoHelo, answer.WordAt(8));
        Assert.Equal(12, answer.Data.Length);

        var mta = harness.Mta;
        foreach (var frame in new[] { TestMta.Connect("client.test", "192.0.2.1"), TestMta.Mail("a@example.test"), TestMta.Recipient("b@example.test"), TestMta.Header("Subject", "Hi") })
        {
            await mta.SendAsync(frame);
            Assert.Equal('c', (await mta.ReadAsync())!.Code);
        }

        // Without SMFIP_HDR_LEADSPC the MTA ate the space after the colon: the handler still sees it.
        Assert.Contains("header Subject: Hi", harness.Backend.Events);
        await mta.SendAsync(TestMta.Command('N'));
        Assert.Equal('c', (await mta.ReadAsync())!.Code);
        await mta.SendAsync(TestMta.Body("text\r\n"));
        Assert.Equal('c', (await mta.ReadAsync())!.Code);
        await mta.SendAsync(TestMta.Command('E'));
        Assert.Equal('a', (await mta.ReadAsync())!.Code);
    }

    [Fact]
    public async Task An_MTA_that_does_not_allow_body_changes_is_refused_at_negotiation()
    {
        await using var harness = SessionHarness.Start();
        await harness.Mta.SendAsync(TestMta.Negotiation(actions: 0x01 | 0x10));
        Assert.Null(await harness.Mta.ReadAsync());
        Assert.Equal("protocol error", await harness.WaitForEndAsync());
        Assert.DoesNotContain("open", harness.Backend.Events);
    }

    [Fact]
    public async Task Protocol_version_1_is_refused()
    {
        await using var harness = SessionHarness.Start();
        await harness.Mta.SendAsync(TestMta.Negotiation(version: 1));
        Assert.Null(await harness.Mta.ReadAsync());
        Assert.Equal("protocol error", await harness.WaitForEndAsync());
    }

    [Fact]
    public async Task A_message_as_Postfix_sends_it_gets_edits_then_the_body_in_chunks_of_the_agreed_size_then_the_verdict()
    {
        var newBody = new byte[200_000];
        new Random(7).NextBytes(newBody);
        var backend = new RecordingBackend
        {
            EndOfMessage = (_, _) => Task.FromResult(new MilterMessageResult(MilterVerdict.Accept)
            {
                HeaderEdits =
                [
                    MilterHeaderEdit.Change(1, "Content-Type"u8.ToArray(), " multipart/mixed;\r\n\tboundary=\"b\""u8.ToArray()),
                    MilterHeaderEdit.Delete(2, "Content-Length"u8.ToArray()),
                    MilterHeaderEdit.Insert(0, "X-Detach"u8.ToArray(), " 1 attachment"u8.ToArray()),
                    MilterHeaderEdit.Add("MIME-Version"u8.ToArray(), " 1.0"u8.ToArray()),
                ],
                ReplacementBody = new MemoryStream(newBody),
            }),
        };
        await using var harness = SessionHarness.Start(backend: backend);
        await harness.NegotiateAsync();
        var mta = harness.Mta;
        await mta.SendAsync(
            TestMta.Macros('C', "j", "mx.example.test"), TestMta.Connect("client.test", "192.0.2.1"),
            TestMta.Macros('M', "{auth_authen}", "ann"), TestMta.Mail("ann@example.test", "SIZE=100"),
            TestMta.Recipient("bob@example.test"), TestMta.Recipient("carol@example.test"),
            TestMta.Macros('N', "i", "4ABC"), TestMta.Header("Subject", " Hello"), TestMta.Header("Content-Type", " text/plain"),
            TestMta.Command('N'));
        var atHeaders = (await mta.ReadAsync())!;
        Assert.Equal('c', atHeaders.Code);
        Assert.True(await mta.IsSilentAsync()); // nothing before: connect, MAIL, RCPT and headers are not answered

        await mta.SendAsync(TestMta.Body("line 1\r\n"), TestMta.Body("line 2\r\n"), TestMta.Macros('E', "i", "4ABC"), TestMta.Command('E'));
        var replies = await mta.ReadUntilVerdictAsync();

        Assert.Equal("mmihbbbba", new string(replies.Select(r => r.Code).ToArray()));
        Assert.Equal(1u, replies[0].WordAt(0));
        Assert.Equal(["Content-Type", " multipart/mixed;\n\tboundary=\"b\""], replies[0].StringsAfter(4)); // LF folds, not CRLF
        Assert.Equal("Content-Length\0\0", Encoding.ASCII.GetString(replies[1].Data, 4, replies[1].Data.Length - 4)); // empty value: delete
        Assert.Equal(0u, replies[2].WordAt(0));
        Assert.Equal(["X-Detach", " 1 attachment"], replies[2].StringsAfter(4));
        Assert.Equal(["MIME-Version", " 1.0"], replies[3].StringsAfter(0));
        var chunks = replies.Where(r => r.Code == 'b').ToList();
        Assert.All(chunks, c => Assert.True(c.Data.Length <= 65535));
        Assert.Equal(newBody, chunks.SelectMany(c => c.Data).ToArray());

        Assert.Equal(
            ["open", "connect MilterClient { HostName = client.test, Family = 4, Port = 25, Address = 192.0.2.1 }", "mail ann@example.test",
             "rcpt bob@example.test", "rcpt carol@example.test", "header Subject: Hello", "header Content-Type: text/plain",
             "eoh complete i=4ABC", "body 8", "body 8", "eom i=4ABC auth=ann"],
            harness.Backend.Events);
    }

    [Fact]
    public async Task Several_messages_share_a_connection_with_Postfix_aborts_in_between()
    {
        var backend = new RecordingBackend();
        var plain = true;
        backend.EndOfHeaders = () => plain ? MilterVerdict.Accept : MilterVerdict.Continue;
        await using var harness = SessionHarness.Start(backend: backend);
        await harness.NegotiateAsync();
        var mta = harness.Mta;
        await mta.SendAsync(TestMta.Connect("client.test", "192.0.2.1"));
        for (int i = 0; i < 3; i++)
        {
            plain = i != 1;
            await mta.SendAsync(TestMta.Mail($"m{i}@example.test"), TestMta.Recipient("bob@example.test"), TestMta.Header("Subject", " x"), TestMta.Command('N'));
            var atHeaders = (await mta.ReadAsync())!;
            if (plain)
            {
                // Plain mail is accepted at end of headers: the MTA sends no body.
                Assert.Equal('a', atHeaders.Code);
            }
            else
            {
                Assert.Equal('c', atHeaders.Code);
                await mta.SendAsync(TestMta.Body("x\r\n"), TestMta.Command('E'));
                Assert.Equal('a', (await mta.ReadAsync())!.Code);
            }

            // Postfix aborts after every transaction, sometimes twice.
            await mta.SendAsync(TestMta.Command('A'), TestMta.Command('A'));
        }

        await mta.SendAsync(TestMta.Command('Q'));
        Assert.Equal("quit", await harness.WaitForEndAsync());
        Assert.Equal(3, backend.Events.Count(e => e.StartsWith("mail ", StringComparison.Ordinal)));
        Assert.Single(backend.Events, e => e.StartsWith("eom", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Progress_goes_out_while_the_end_of_message_takes_long()
    {
        var backend = new RecordingBackend
        {
            EndOfMessage = async (_, cancellationToken) =>
            {
                await Task.Delay(400, cancellationToken);
                return new MilterMessageResult(MilterVerdict.Accept);
            },
        };
        await using var harness = SessionHarness.Start(backend: backend);
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Mail("a@example.test"), TestMta.Command('N'));
        Assert.Equal('c', (await harness.Mta.ReadAsync())!.Code);
        await harness.Mta.SendAsync(TestMta.Command('E'));

        var replies = await harness.Mta.ReadUntilVerdictAsync();
        Assert.True(replies.Count >= 3, string.Join(",", replies.Select(r => r.Code)));
        Assert.All(replies[..^1], r => Assert.Equal('p', r.Code));
        Assert.Equal('a', replies[^1].Code);
    }

    [Fact]
    public async Task An_MTA_that_goes_away_during_the_end_of_message_cancels_the_work()
    {
        var cancelled = new TaskCompletionSource();
        var backend = new RecordingBackend
        {
            EndOfMessage = async (_, cancellationToken) =>
            {
                using var registration = cancellationToken.Register(() => cancelled.TrySetResult());
                await Task.Delay(Timeout.Infinite, cancellationToken);
                return new MilterMessageResult(MilterVerdict.Accept);
            },
        };
        await using var harness = SessionHarness.Start(backend: backend);
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Mail("a@example.test"), TestMta.Command('N'));
        await harness.Mta.ReadAsync();
        await harness.Mta.SendAsync(TestMta.Command('E'));
        await harness.Mta.CloseAsync();

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal("MTA closed the connection during end of message", await harness.WaitForEndAsync());
        Assert.Contains("abort", backend.Events); // the handler is told the message is gone
    }

    [Theory]
    [InlineData('Z')]
    [InlineData('\0')]
    public async Task An_unknown_command_ends_the_connection_without_a_reply(char code)
    {
        await using var harness = SessionHarness.Start();
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Frame(code, [1, 2, 3]));
        Assert.Null(await harness.Mta.ReadAsync());
        Assert.Equal("protocol error", await harness.WaitForEndAsync());
    }

    [Fact]
    public async Task An_oversize_length_ends_the_connection_before_its_data_is_waited_for()
    {
        await using var harness = SessionHarness.Start(o => o.MaxFrameLength = 65536);
        await harness.NegotiateAsync();

        // Only the length word: the session must not wait for 65537 bytes that never come.
        await harness.Mta.SendAsync(TestMta.Word(65537));
        Assert.Equal("protocol error", await harness.WaitForEndAsync());
    }

    [Fact]
    public async Task A_connection_closed_inside_a_frame_is_a_protocol_error()
    {
        await using var harness = SessionHarness.Start();
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Header("Subject", " cut")[..9]);
        await harness.Mta.CloseAsync();
        Assert.Equal("protocol error", await harness.WaitForEndAsync());
    }

    [Fact]
    public async Task A_conversation_sent_one_byte_at_a_time_gives_the_same_events()
    {
        byte[][] frames =
        [
            TestMta.Negotiation(), TestMta.Connect("client.test", "192.0.2.1"), TestMta.Mail("a@example.test"),
            TestMta.Recipient("b@example.test"), TestMta.Macros('N', "i", "Q1"), TestMta.Header("Subject", " split"),
            TestMta.Header("X-Long", " one\n\ttwo"), TestMta.Command('N'),
        ];
        async Task<List<string>> RunAsync(bool trickle)
        {
            await using var harness = SessionHarness.Start();
            var all = frames.SelectMany(f => f).ToArray();
            if (trickle)
            {
                await harness.Mta.TrickleAsync(all);
            }
            else
            {
                await harness.Mta.SendAsync(all);
            }

            Assert.Equal('O', (await harness.Mta.ReadAsync())!.Code);
            Assert.Equal('c', (await harness.Mta.ReadAsync())!.Code);
            await harness.Mta.TrickleAsync([.. TestMta.Body("body\r\n"), .. TestMta.Command('E')]);
            Assert.Equal('a', (await harness.Mta.ReadAsync())!.Code);
            return [.. harness.Backend.Events];
        }

        var whole = await RunAsync(trickle: false);
        Assert.Equal(whole, await RunAsync(trickle: true));
        Assert.Contains("header X-Long: one\n\ttwo", whole);
    }

    [Fact]
    public async Task A_failing_handler_makes_the_message_a_temporary_failure_and_the_next_one_works()
    {
        var backend = new RecordingBackend { FailAt = "header" };
        await using var harness = SessionHarness.Start(backend: backend);
        await harness.NegotiateAsync();
        var mta = harness.Mta;
        await mta.SendAsync(TestMta.Mail("a@example.test"), TestMta.Header("Subject", " x"), TestMta.Header("To", " y"), TestMta.Command('N'));
        var reply = (await mta.ReadAsync())!;
        Assert.Equal('y', reply.Code);
        Assert.StartsWith("451 4.3.0 ", reply.Text, StringComparison.Ordinal);
        Assert.Single(backend.Events, e => e.StartsWith("header", StringComparison.Ordinal)); // no calls after the failure

        backend.FailAt = null;
        await mta.SendAsync(TestMta.Command('A'), TestMta.Mail("b@example.test"), TestMta.Header("Subject", " x"), TestMta.Command('N'));
        Assert.Equal('c', (await mta.ReadAsync())!.Code);
    }

    [Fact]
    public async Task Header_fields_past_the_limit_are_not_passed_on_and_end_of_headers_says_so()
    {
        await using var harness = SessionHarness.Start(o => o.MaxHeaders = 2);
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Mail("a@example.test"), TestMta.Header("A", " 1"), TestMta.Header("B", " 2"), TestMta.Header("C", " 3"), TestMta.Command('N'));
        await harness.Mta.ReadAsync();
        Assert.Equal(2, harness.Backend.Events.Count(e => e.StartsWith("header", StringComparison.Ordinal)));
        Assert.Contains(harness.Backend.Events, e => e.StartsWith("eoh incomplete", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Macros_past_the_limit_per_stage_are_dropped()
    {
        await using var harness = SessionHarness.Start(o => o.MaxMacrosPerStage = 2);
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Macros('M', "a", "1", "b", "2", "c", "3"), TestMta.Mail("a@example.test"), TestMta.Command('N'));
        await harness.Mta.ReadAsync();
        var macros = harness.Backend.Context!.Macros;
        Assert.Equal("2", macros["b"]);
        Assert.Null(macros["c"]);
        Assert.True(macros.Truncated);
    }

    [Fact]
    public async Task A_reply_code_doubles_percent_signs_for_Sendmail()
    {
        var backend = new RecordingBackend { EndOfHeaders = () => MilterVerdict.Reply(452, "4.3.1", "Disk 99% full") };
        await using var harness = SessionHarness.Start(backend: backend);
        await harness.NegotiateAsync();
        await harness.Mta.SendAsync(TestMta.Mail("a@example.test"), TestMta.Command('N'));
        var reply = (await harness.Mta.ReadAsync())!;
        Assert.Equal('y', reply.Code);
        Assert.Equal("452 4.3.1 Disk 99%% full\0", reply.Text);
    }

    [Fact]
    public async Task Events_before_negotiation_are_a_protocol_error()
    {
        await using var harness = SessionHarness.Start();
        await harness.Mta.SendAsync(TestMta.Mail("a@example.test"));
        Assert.Equal("protocol error", await harness.WaitForEndAsync());
    }
}
