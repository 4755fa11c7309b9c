using System.Text;
using Detach.Gateway.Milter;
using Detach.Milter;

namespace Detach.Gateway.Tests.Milter;

/// <summary>
/// The header edits the milter sends, applied the way Postfix applies them (a deleted field leaves the per-name
/// count) and the way Sendmail does (it stays in the count), must turn the MTA's header into the detacher's.
/// </summary>
public sealed class HeaderDiffTests
{
    [Fact]
    public void A_note_on_top_is_one_insertion_at_index_0()
    {
        var before = Fields("From: a@example.test", "Subject: hi", "Content-Type: multipart/mixed; boundary=b");
        var after = Fields("X-Detach: 1 attachment (report.pdf, 2 MB)", "From: a@example.test", "Subject: hi", "Content-Type: multipart/mixed; boundary=b");

        var edit = Assert.Single(HeaderDiff.Edits(before, after));
        Assert.Equal(MilterHeaderEditKind.Insert, edit.Kind);
        Assert.Equal(0, edit.Index);
        Assert.Equal(" 1 attachment (report.pdf, 2 MB)", Encoding.ASCII.GetString(edit.Value.Span));
    }

    [Fact]
    public void A_message_that_was_one_attachment_gets_its_new_content_fields_at_the_end_as_the_detacher_writes_them()
    {
        var before = Fields("From: a@example.test", "MIME-Version: 1.0", "Content-Type: application/pdf; name=r.pdf",
            "Content-Transfer-Encoding: base64", "Content-Disposition: attachment; filename=r.pdf", "Subject: r");
        var after = Fields("X-Detach: 1 attachment", "From: a@example.test", "Subject: r", "MIME-Version: 1.0",
            "Content-Type: multipart/mixed;\r\n\tboundary=\"=_detach_1\"");

        var edits = HeaderDiff.Edits(before, after);

        AssertTurnsInto(before, after, edits);
        Assert.Equal(MilterHeaderEditKind.Add, edits.Single(e => Name(e) == "Content-Type" && e.Value.Length > 0).Kind);
        Assert.Equal(MilterHeaderEditKind.Insert, edits.Single(e => Name(e) == "X-Detach").Kind);
    }

    [Fact]
    public void A_field_changed_where_it_stands_is_changed_in_place()
    {
        var before = Fields("From: a@example.test", "Content-Type: text/plain; charset=us-ascii", "Content-Transfer-Encoding: 7bit", "Subject: s");
        var after = Fields("X-Detach: 1 attachment", "From: a@example.test", "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable", "Subject: s");

        var edits = HeaderDiff.Edits(before, after);

        AssertTurnsInto(before, after, edits);
        Assert.Equal(["Change 1 Content-Transfer-Encoding: quoted-printable", "Change 1 Content-Type: text/plain; charset=utf-8", "Insert 0 X-Detach: 1 attachment"],
            edits.Select(e => e.ToString()));
    }

    [Fact]
    public void Fields_of_one_name_are_deleted_from_the_last_so_no_index_moves()
    {
        var before = Fields("Content-Length: 10", "From: a@example.test", "Content-Length: 20", "Content-Length: 30");
        var after = Fields("From: a@example.test");

        var edits = HeaderDiff.Edits(before, after);

        Assert.Equal([3, 2, 1], edits.Select(e => e.Index));
        Assert.All(edits, e => Assert.True(e.Value.IsEmpty));
        AssertTurnsInto(before, after, edits);
    }

    [Fact]
    public void Any_mix_of_top_insertions_appends_changes_and_deletions_is_reproduced_exactly()
    {
        var random = new Random(13);
        string[] names = ["Received", "From", "To", "Subject", "Content-Type", "MIME-Version", "X-Spam", "Content-Length"];
        for (int run = 0; run < 2000; run++)
        {
            var before = Enumerable.Range(0, random.Next(0, 12))
                .Select(i => $"{names[random.Next(names.Length)]}: v{i}{(random.Next(4) == 0 ? "\r\n\tfolded" : "")}").ToList();
            var after = new List<string>();
            foreach (var field in before)
            {
                switch (random.Next(6))
                {
                    case 0:
                        break; // deleted
                    case 1:
                        after.Add(field[..field.IndexOf(':', StringComparison.Ordinal)] + ": changed" + run);
                        break;
                    default:
                        after.Add(field);
                        break;
                }
            }

            after.InsertRange(0, Enumerable.Range(0, random.Next(3)).Select(i => $"X-Detach: top{i}"));
            after.AddRange(Enumerable.Range(0, random.Next(3)).Select(i => $"{names[random.Next(names.Length)]}: end{i}"));

            var edits = HeaderDiff.Edits(Fields([.. before]), Fields([.. after]));
            AssertTurnsInto(Fields([.. before]), Fields([.. after]), edits, $"run {run}: [{string.Join(" | ", before)}] -> [{string.Join(" | ", after)}]");
        }
    }

    [Fact]
    public void Unchanged_fields_give_no_edit()
    {
        var fields = Fields("From: a@example.test", "Subject: x");
        Assert.Empty(HeaderDiff.Edits(fields, Fields("From: a@example.test", "Subject: x")));
    }

    [Fact]
    public async Task A_header_block_is_read_up_to_its_empty_line()
    {
        var message = "From: a@example.test\r\nSubject: one\r\n two\r\n\r\nbody\r\n"u8.ToArray();
        var block = await HeaderBlock.ReadAsync(new MemoryStream(message), 1024, TestContext.Current.CancellationToken);

        Assert.Equal(2, block.Fields.Count);
        Assert.Equal("Subject", Encoding.ASCII.GetString(block.Fields[1].Name.Span));
        Assert.Equal(" one\r\n two", Encoding.ASCII.GetString(block.Fields[1].Value.Span));
        Assert.Equal("body\r\n", Encoding.ASCII.GetString(message.AsSpan((int)block.BodyStart)));
        await Assert.ThrowsAsync<InvalidDataException>(() => HeaderBlock.ReadAsync(new MemoryStream(message), 20, TestContext.Current.CancellationToken));
    }

    private static List<RawHeaderField> Fields(params string[] lines) =>
        lines.Select(l => new RawHeaderField(Encoding.ASCII.GetBytes(l + "\r\n"))).ToList();

    private static string Name(MilterHeaderEdit edit) => Encoding.ASCII.GetString(edit.Name.Span);

    /// <summary>Applies the edits with Postfix's and with Sendmail's deletion rule; both must give <paramref name="after"/>.</summary>
    private static void AssertTurnsInto(List<RawHeaderField> before, List<RawHeaderField> after, List<MilterHeaderEdit> edits, string? context = null)
    {
        var expected = after.Select(f => (Encoding.ASCII.GetString(f.Name.Span), Unfolded(f.Value.Span))).ToList();
        foreach (bool deletedStillCounts in new[] { false, true })
        {
            var header = before.Select(f => (Name: Encoding.ASCII.GetString(f.Name.Span), Value: Unfolded(f.Value.Span), Deleted: false)).ToList();
            foreach (var edit in edits)
            {
                var name = Name(edit);
                var value = Unfolded(edit.Value.Span);
                switch (edit.Kind)
                {
                    case MilterHeaderEditKind.Insert:
                        Assert.Equal(0, edit.Index);
                        header.Insert(0, (name, value, false));
                        break;
                    case MilterHeaderEditKind.Add:
                        header.Add((name, value, false));
                        break;
                    default:
                        var at = header.Select((f, i) => (f, i))
                            .Where(p => p.f.Name.Equals(name, StringComparison.OrdinalIgnoreCase) && (deletedStillCounts || !p.f.Deleted))
                            .Skip(edit.Index - 1).First().i;
                        header[at] = value.Length == 0 ? header[at] with { Deleted = true } : header[at] with { Value = value };
                        break;
                }
            }

            Assert.True(expected.SequenceEqual(header.Where(f => !f.Deleted).Select(f => (f.Name, f.Value))),
                $"{(deletedStillCounts ? "Sendmail" : "Postfix")}: {context}\nedits: {string.Join(" ; ", edits)}");
        }
    }

    private static string Unfolded(ReadOnlySpan<byte> value) => Encoding.ASCII.GetString(value).Replace("\r\n", "\n", StringComparison.Ordinal);
}
