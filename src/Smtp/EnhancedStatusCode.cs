namespace Detach.Smtp;

/// <summary>RFC 3463 "class.subject.detail" codes: class 2, 4 or 5, subject and detail 1-3 digits.</summary>
internal static class EnhancedStatusCode
{
    public static bool IsValid(ReadOnlySpan<char> code) => Match(code) == code.Length;

    /// <summary>Length of the status code at the start of <paramref name="text"/>, or 0.</summary>
    public static int Match(ReadOnlySpan<char> text)
    {
        if (text.Length < 5 || text[0] is not ('2' or '4' or '5') || text[1] != '.')
        {
            return 0;
        }

        int i = 2;
        int subject = Digits(text, i);
        if (subject == 0 || i + subject >= text.Length || text[i + subject] != '.')
        {
            return 0;
        }

        i += subject + 1;
        int detail = Digits(text, i);
        return detail == 0 ? 0 : i + detail;
    }

    private static int Digits(ReadOnlySpan<char> text, int start)
    {
        int n = 0;
        while (start + n < text.Length && n < 4 && char.IsAsciiDigit(text[start + n]))
        {
            n++;
        }

        return n is >= 1 and <= 3 ? n : 0;
    }
}
