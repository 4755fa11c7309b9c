using System.Text;

namespace Detach.Mime;

/// <summary>
/// A message after the first phase of a rewrite: parsed, classified, every detached part stored through the
/// sink. What is left is writing it (<see cref="WriteToAsync"/>): the spool copied byte for byte except for a
/// short list of edits, all decided already, so nothing can fail for a reason the sink would have to undo.
/// </summary>
public sealed class PreparedMessage
{
    private readonly MimeStructure _structure;
    private readonly IReadOnlyList<Edit> _edits;

    internal PreparedMessage(MimeStructure structure, MessageHeaders headers, IReadOnlyList<DetachedAttachment> detached, string? skippedReason, IReadOnlyList<Edit> edits)
    {
        _structure = structure;
        _edits = edits;
        Headers = headers;
        Detached = detached;
        SkippedReason = skippedReason;
    }

    /// <summary>The message's own header fields, from the same parse.</summary>
    public MessageHeaders Headers { get; }

    /// <summary>The attachments taken out, in document order.</summary>
    public IReadOnlyList<DetachedAttachment> Detached { get; }

    /// <summary>Why the message was left alone on purpose (e.g. "signed message"), otherwise null.</summary>
    public string? SkippedReason { get; }

    /// <summary>The first parser limit the message ran into; the parts past it stay as they came (the trace header says so).</summary>
    public string? LimitExceeded => _structure.LimitExceeded;

    /// <summary>True when the output is byte for byte the input: a caller holding the spool may send it instead.</summary>
    public bool Unchanged => _edits.Count == 0;

    /// <summary>
    /// The same message with one more header field at the top of its header block (a trace field such as the
    /// outcome of a scan), in the message's own line ending. <paramref name="value"/> must be printable ASCII; it is
    /// folded at spaces so lines stay under 78 characters where it can be.
    /// </summary>
    public PreparedMessage WithHeaderField(string name, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.AsSpan().IndexOfAnyExceptInRange('!', '~') >= 0 || name.Contains(':', StringComparison.Ordinal) || value.AsSpan().IndexOfAnyExceptInRange(' ', '~') >= 0)
        {
            throw new ArgumentException("A header field needs a printable ASCII name without ':' and a printable ASCII value.", nameof(value));
        }

        var root = _structure.Root;
        var field = new StringBuilder(name).Append(':');
        var lineStart = 0;
        foreach (var word in value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (field.Length - lineStart + 1 + word.Length > 76 && field.Length - lineStart > name.Length + 1)
            {
                field.Append(root.LineEnding);
                lineStart = field.Length;
            }

            field.Append(' ').Append(word);
        }

        field.Append(root.LineEnding);
        return new PreparedMessage(_structure, Headers, Detached, SkippedReason, [Edit.Insert(root.HeaderStart, Encoding.ASCII.GetBytes(field.ToString())), .. _edits]);
    }

    /// <summary>
    /// Writes the message, rewritten or not, from the spool <see cref="MimeRewriter.PrepareAsync"/> read (which must
    /// still be open). Writing twice gives the same bytes.
    /// </summary>
    public async Task WriteToAsync(Stream output, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        long position = 0;
        foreach (var edit in _edits)
        {
            await CopyRangeAsync(position, edit.Start, output, cancellationToken).ConfigureAwait(false);
            await edit.WriteAsync(output, cancellationToken).ConfigureAwait(false);
            position = edit.End;
        }
        await CopyRangeAsync(position, _structure.Length, output, cancellationToken).ConfigureAwait(false);
    }

    private async Task CopyRangeAsync(long start, long end, Stream output, CancellationToken cancellationToken)
    {
        if (end <= start)
        {
            return;
        }

        var range = _structure.OpenRange(start, end);
        await using (range.ConfigureAwait(false))
        {
            await range.CopyToAsync(output, 64 * 1024, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>The top-level header fields of a message, as parsed (empty when its header block was past the parser's limits).</summary>
public sealed class MessageHeaders(IReadOnlyList<HeaderField> fields)
{
    public IReadOnlyList<HeaderField> Fields => fields;

    /// <summary>The unfolded value of the first field with this name, or null.</summary>
    public string? this[string name]
    {
        get
        {
            foreach (var field in fields)
            {
                if (field.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
                {
                    return field.Value;
                }
            }
            return null;
        }
    }

    public string? MessageId => this["Message-ID"];

    public string? From => this["From"];
}

/// <summary>One change to the spool's bytes: [Start, End) is replaced by what <see cref="WriteAsync"/> writes.</summary>
internal sealed record Edit(long Start, long End, Func<Stream, CancellationToken, Task> WriteAsync)
{
    public static Edit Replace(long start, long end, byte[] bytes) => new(start, end, (o, c) => o.WriteAsync(bytes, c).AsTask());

    public static Edit Insert(long at, byte[] bytes) => Replace(at, at, bytes);

    public static Edit Delete(long start, long end) => new(start, end, static (_, _) => Task.CompletedTask);

    /// <summary>Sorts the edits by position; overlapping edits are a bug, caught before anything is written.</summary>
    public static List<Edit> InOrder(List<Edit> edits)
    {
        edits.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.End.CompareTo(b.End));
        for (int i = 1; i < edits.Count; i++)
        {
            if (edits[i].Start < edits[i - 1].End)
            {
                throw new InvalidOperationException("Internal error: overlapping rewrite regions.");
            }
        }
        return edits;
    }
}
