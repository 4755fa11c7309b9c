namespace Detach.Smtp;

/// <summary>Syntax of MAIL/RCPT arguments (RFC 5321 4.1.2, lenient where Postfix is): path, then "KEYWORD[=value]" parameters.</summary>
internal static class SmtpCommandSyntax
{
    /// <summary>Splits "FROM:&lt;path&gt; params" (prefix "FROM:" or "TO:"). Returns an error text or null.</summary>
    public static string? TryParsePathAndParameters(string arguments, string prefix, out string path, out string rawParameters, out List<SmtpParameter> parameters)
    {
        path = "";
        rawParameters = "";
        parameters = [];
        if (!arguments.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return $"Syntax: {(prefix == "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>")}";
        }

        ReadOnlySpan<char> rest = arguments.AsSpan(prefix.Length).TrimStart(' ');
        int end;
        if (rest.Length > 0 && rest[0] == '<')
        {
            end = FindClosingBracket(rest);
            if (end < 0)
            {
                return "Syntax error in address: missing '>'";
            }

            path = rest[1..end].ToString();
            end++;
        }
        else
        {
            // A bare address without brackets, as old clients send; it ends at the first space.
            end = rest.IndexOf(' ');
            if (end < 0)
            {
                end = rest.Length;
            }

            path = rest[..end].ToString();
            if (path.Length == 0)
            {
                return "Syntax error in address: empty";
            }

            // Relayed, it gets brackets: an angle bracket or quote in it would make the next hop read another command
            // (found by fuzzing: "MAIL FROM:a@b> x" went on as "MAIL FROM:<a@b>> x").
            if (path.AsSpan().IndexOfAny('<', '>', '"') >= 0)
            {
                return "Syntax error in address: brackets or quotes need <...>";
            }
        }

        if (path.Contains(' ', StringComparison.Ordinal) && !path.Contains('"', StringComparison.Ordinal))
        {
            return "Syntax error in address: space";
        }

        ReadOnlySpan<char> tail = rest[end..];
        if (tail.Length > 0 && tail[0] != ' ')
        {
            return "Syntax error after address";
        }

        rawParameters = tail.Trim(' ').ToString();
        return TryParseParameters(rawParameters, parameters);
    }

    private static int FindClosingBracket(ReadOnlySpan<char> s)
    {
        bool quoted = false;
        for (int i = 1; i < s.Length; i++)
        {
            char c = s[i];
            if (quoted && c == '\\')
            {
                i++;
            }
            else if (c == '"')
            {
                quoted = !quoted;
            }
            else if (c == '>' && !quoted)
            {
                return i;
            }
        }

        return -1;
    }

    private static string? TryParseParameters(string raw, List<SmtpParameter> parameters)
    {
        foreach (string token in raw.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = token.IndexOf('=', StringComparison.Ordinal);
            string keyword = eq < 0 ? token : token[..eq];
            string? value = eq < 0 ? null : token[(eq + 1)..];
            if (!IsKeyword(keyword))
            {
                return $"Bad parameter keyword: {Printable(keyword)}";
            }

            if (value is not null && (value.Length == 0 || !IsValue(value)))
            {
                return $"Bad parameter value for {keyword}";
            }

            parameters.Add(new SmtpParameter(keyword, value));
        }

        return null;
    }

    private static bool IsKeyword(string keyword)
    {
        if (keyword.Length == 0 || !char.IsAsciiLetterOrDigit(keyword[0]))
        {
            return false;
        }

        foreach (char c in keyword)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    // esmtp-value: %d33-60 / %d62-126, plus UTF-8 under SMTPUTF8 (RFC 6531).
    private static bool IsValue(string value)
    {
        foreach (char c in value)
        {
            if (c is < (char)33 or '=' or (char)127)
            {
                return false;
            }
        }

        return true;
    }

    private static string Printable(string s) => s.Length > 40 ? s[..40] : s;
}
