namespace Detach.Mime;

/// <summary>Limits that keep parsing bounded in memory and stack whatever the input.</summary>
public sealed class MimeParserOptions
{
    /// <summary>Nesting deeper than this (multiparts and encapsulated messages) is read as an opaque leaf.</summary>
    public int MaxDepth { get; set; } = 100;

    /// <summary>A header field longer than this makes its part opaque (passed through untouched).</summary>
    public int MaxHeaderFieldBytes { get; set; } = 64 * 1024;

    /// <summary>A header block longer than this makes its part opaque.</summary>
    public int MaxHeaderBlockBytes { get; set; } = 256 * 1024;

    /// <summary>Header bytes kept in memory for the whole message; parts past the budget become opaque.</summary>
    public long MaxTotalHeaderBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Parts past this count are not parsed into further structure (they stay inside their parent).</summary>
    public int MaxParts { get; set; } = 10_000;

    /// <summary>Boundaries longer than this make the multipart an opaque leaf (RFC 2046 allows 70; real mail goes further).</summary>
    public int MaxBoundaryLength { get; set; } = 8 * 1024;

    internal static readonly MimeParserOptions Default = new();

    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MaxDepth is < 1 or > 10_000)
        {
            errors.Add("Parser:MaxDepth must be between 1 and 10000.");
        }

        if (MaxHeaderFieldBytes is < 998 or > 16 * 1024 * 1024)
        {
            errors.Add("Parser:MaxHeaderFieldBytes must be between 998 and 16 MiB.");
        }

        if (MaxHeaderBlockBytes < MaxHeaderFieldBytes)
        {
            errors.Add("Parser:MaxHeaderBlockBytes must be at least Parser:MaxHeaderFieldBytes.");
        }

        if (MaxTotalHeaderBytes < MaxHeaderBlockBytes)
        {
            errors.Add("Parser:MaxTotalHeaderBytes must be at least Parser:MaxHeaderBlockBytes.");
        }

        if (MaxParts < 1)
        {
            errors.Add("Parser:MaxParts must be positive.");
        }

        if (MaxBoundaryLength is < 70 or > 16 * 1024)
        {
            errors.Add("Parser:MaxBoundaryLength must be between 70 and 16384.");
        }

        return errors;
    }
}
