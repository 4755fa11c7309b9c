namespace Detach.Mime;

/// <summary>How a part's body is encoded for transport.</summary>
public enum TransferEncoding
{
    /// <summary>No Content-Transfer-Encoding field (same as 7bit).</summary>
    None,
    SevenBit,
    EightBit,
    Binary,
    Base64,
    QuotedPrintable,
    UUEncode,
    /// <summary>A value we do not know: the body is passed through, never decoded.</summary>
    Unknown,
}

/// <summary>A parsed Content-Type (or Content-Disposition): lower-case leading value plus parameters.</summary>
public sealed class StructuredHeaderValue
{
    public StructuredHeaderValue(string value, HeaderParameters parameters)
    {
        Value = value;
        Parameters = parameters;
    }

    /// <summary>"text/plain", "attachment", ... lower case.</summary>
    public string Value { get; }

    public HeaderParameters Parameters { get; }
}

/// <summary>
/// One entity of the message tree: its header fields (raw bytes kept) and byte offsets into the spool.
/// The body is never held: read it through <see cref="MimeStructure.OpenBody"/>.
/// </summary>
public sealed class MimeEntity
{
    private readonly List<HeaderField> _headers = [];
    private readonly List<MimeEntity> _children = [];

    internal MimeEntity(MimeEntity? parent, string path, int depth, long headerStart)
    {
        Parent = parent;
        Path = path;
        Depth = depth;
        HeaderStart = headerStart;
    }

    public MimeEntity? Parent { get; }

    /// <summary>
    /// IMAP-style section number: "" for the message itself, "1", "1.2", ... An encapsulated multipart message shares
    /// its part's number (its children are "2.1", "2.2"); a single-part one is "2.1", as IMAP numbers its body.
    /// </summary>
    public string Path { get; internal set; }

    public int Depth { get; }

    public IReadOnlyList<HeaderField> Headers => _headers;

    /// <summary>Header limits were exceeded (or the parts budget ran out): the part is opaque and passed through.</summary>
    public bool IsOpaque { get; internal set; }

    /// <summary>Offset of the first header byte (after a BOM or mbox From_ line for the message).</summary>
    public long HeaderStart { get; internal set; }

    /// <summary>No blank line ended the header block: it ran into the end of input, a delimiter or a line that is no header.</summary>
    public bool HeadersUnterminated { get; internal set; }

    /// <summary>Offset of the first body byte (after the blank line).</summary>
    public long BodyStart { get; internal set; }

    /// <summary>Offset just past the body; for a part inside a multipart, the line ending before the next delimiter is excluded.</summary>
    public long End { get; internal set; } = -1;

    public long BodyLength => Math.Max(0, End - BodyStart);

    /// <summary>The bytes before <see cref="HeaderStart"/> at the top of the message (BOM, mbox From_ line).</summary>
    public long PrefixLength { get; internal set; }

    /// <summary>"\r\n" or "\n": the line ending this entity's headers use.</summary>
    public string LineEnding { get; internal set; } = "\r\n";

    public StructuredHeaderValue ContentType { get; internal set; } = DefaultTextPlain;

    /// <summary>True when there was no usable Content-Type field.</summary>
    public bool ContentTypeIsDefault { get; internal set; } = true;

    public StructuredHeaderValue? ContentDisposition { get; internal set; }

    public TransferEncoding TransferEncoding { get; internal set; }

    public string? ContentId { get; internal set; }

    /// <summary>The boundary when this entity was parsed as a multipart.</summary>
    public string? Boundary { get; internal set; }

    public bool IsMultipart => Boundary is not null;

    /// <summary>A multipart whose close delimiter was seen.</summary>
    public bool IsClosed { get; internal set; }

    public IReadOnlyList<MimeEntity> Children => _children;

    /// <summary>The encapsulated message of a message/rfc822 part.</summary>
    public MimeEntity? Message { get; internal set; }

    public string MimeType => ContentType.Value;

    internal void AddHeader(HeaderField field) => _headers.Add(field);

    internal void AddChild(MimeEntity child) => _children.Add(child);

    public HeaderField? FindHeader(string name) => _headers.Find(h => string.Equals(h.Name, name, StringComparison.OrdinalIgnoreCase));

    internal static readonly StructuredHeaderValue DefaultTextPlain = new("text/plain", HeaderParameters.Empty);
    internal static readonly StructuredHeaderValue DefaultMessage = new("message/rfc822", HeaderParameters.Empty);

    /// <summary>Fills the typed properties from the header fields once they are read.</summary>
    internal void Interpret(bool parentIsDigest)
    {
        ContentType = parentIsDigest ? DefaultMessage : DefaultTextPlain;
        if (IsOpaque)
        {
            return;
        }

        var ct = FindHeader("Content-Type");
        if (ct is not null)
        {
            // An unusable Content-Type means text/plain (RFC 2045 section 5.2), as Python and MimeKit read it.
            var (mimeType, parameters) = HeaderDecoding.ContentType(ct.RawValue);
            ContentType = new StructuredHeaderValue(mimeType ?? "text/plain", parameters);
            ContentTypeIsDefault = mimeType is null;
        }
        var cd = FindHeader("Content-Disposition");
        if (cd is not null)
        {
            var (disposition, parameters) = HeaderDecoding.ContentDisposition(cd.RawValue);
            ContentDisposition = new StructuredHeaderValue(disposition ?? "", parameters);
        }
        var cte = FindHeader("Content-Transfer-Encoding");
        TransferEncoding = cte is null ? TransferEncoding.None : ParseTransferEncoding(cte.Value);
        ContentId = FindHeader("Content-ID")?.Value;
    }

    internal static TransferEncoding ParseTransferEncoding(string value)
    {
        string v = value.Trim().Trim('"').ToLowerInvariant();
        int space = v.IndexOfAny([' ', '\t', ';', '(']);
        if (space > 0)
        {
            v = v[..space];
        }

        return v switch
        {
            "" or "7bit" or "7-bit" => TransferEncoding.SevenBit,
            "8bit" or "8-bit" => TransferEncoding.EightBit,
            "binary" => TransferEncoding.Binary,
            "base64" => TransferEncoding.Base64,
            "quoted-printable" => TransferEncoding.QuotedPrintable,
            "x-uuencode" or "uuencode" or "x-uue" or "uue" => TransferEncoding.UUEncode,
            _ => TransferEncoding.Unknown,
        };
    }

    /// <summary>The file name as sent (decoded, not sanitised): disposition filename, else Content-Type name.</summary>
    public string? RawFileName
    {
        get
        {
            string? name = ContentDisposition?.Parameters["filename"];
            if (string.IsNullOrWhiteSpace(name))
            {
                name = ContentType.Parameters["name"];
            }

            return string.IsNullOrWhiteSpace(name) ? null : name;
        }
    }

    /// <summary>Lower-case disposition type ("attachment", "inline") or null.</summary>
    public string? DispositionType => string.IsNullOrEmpty(ContentDisposition?.Value) ? null : ContentDisposition!.Value;

    /// <summary>This entity and all below it, depth first in document order, without recursion.</summary>
    public IEnumerable<MimeEntity> DescendantsAndSelf()
    {
        var stack = new Stack<MimeEntity>();
        stack.Push(this);
        while (stack.Count > 0)
        {
            var e = stack.Pop();
            yield return e;
            if (e.Message is not null)
            {
                stack.Push(e.Message);
            }

            for (int i = e._children.Count - 1; i >= 0; i--)
            {
                stack.Push(e._children[i]);
            }
        }
    }

    public override string ToString() => $"{(Path.Length == 0 ? "(message)" : Path)} {MimeType} [{HeaderStart}..{BodyStart}..{End})";
}
