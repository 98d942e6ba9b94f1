"""Word banks for synthetic values and phrasings (everyday, neutral, fictional where personal)."""

from __future__ import annotations

CITIES = ["Paris", "Lisbon", "Tokyo", "Nairobi", "Toronto", "Melbourne", "Buenos Aires", "Oslo",
          "Seoul", "Cape Town", "Denver", "Edinburgh", "Mumbai", "Mexico City", "Reykjavik",
          "Singapore", "Vienna", "Austin", "Marrakesh", "Helsinki"]
COUNTRIES = ["France", "Japan", "Kenya", "Canada", "Brazil", "Norway", "India", "Australia",
             "Portugal", "Chile"]
TIMEZONES = ["Europe/Paris", "America/New_York", "Asia/Tokyo", "Africa/Nairobi",
             "Australia/Sydney", "America/Los_Angeles", "Europe/London", "Asia/Kolkata"]
CURRENCIES = ["USD", "EUR", "JPY", "GBP", "CAD", "AUD", "CHF", "INR"]
LANGUAGES = ["English", "Spanish", "French", "German", "Japanese", "Portuguese", "Swahili"]
PEOPLE = ["Ana Ribeiro", "Kenji Watanabe", "Priya Nair", "Lucas Moreau", "Amara Okafor",
          "Sofia Lindqvist", "Mateo Alvarez", "Hannah Becker", "Omar Haddad", "Mei Chen"]
EMAILS = ["ana.ribeiro@example.com", "kenji.w@example.org", "priya.nair@example.net",
          "lucas.moreau@example.com", "amara@example.org", "team-ops@example.com",
          "mei.chen@example.net", "omar.haddad@example.com"]
SUBJECTS = ["Quarterly report draft", "Lunch on Thursday?", "Updated project timeline",
            "Invoice #4821", "Notes from today's standup", "Travel plans for the offsite",
            "Quick question about the budget", "Welcome to the team!"]
BODIES = ["Hi, attaching the latest draft. Let me know what you think by Friday.",
          "Just a reminder that the review moved to 3 pm tomorrow.",
          "Thanks for your help last week, the launch went smoothly.",
          "Could you send me the final numbers when you have a moment?",
          "Here is the summary we discussed; happy to talk it through."]
FILE_CONTENTS = ["# Shopping list\n- oats\n- coffee\n- lemons\n",
                 "Meeting notes\n1. Ship v2 on the 14th\n2. Hire a designer\n",
                 "TODO: rotate the API keys and update the README.\n",
                 "name,qty\nwidget,12\ngadget,7\n"]
TITLES = ["Design review", "Dentist appointment", "Team retro", "Call with Priya",
          "Gym session", "Project kickoff", "Flight to Lisbon", "1:1 with manager"]
QUERIES = ["best hiking trails near Denver", "how to repot a monstera",
           "latest Python release notes", "electric car charging stations in Oslo",
           "vegetarian lasagna recipe",
           "history of the Eiffel Tower", "remote work productivity tips", "SQLite WAL mode"]
PATHS = ["/home/user/notes/todo.md", "/home/user/projects/app/README.md",
         "/home/user/reports/q3-summary.txt", "/home/user/data/inventory.csv",
         "/home/user/documents/letter.txt", "/var/log/app/server.log"]
URLS = ["https://example.com/blog/launch-notes", "https://docs.example.org/guide/install",
        "https://news.example.net/tech/2025/ai-chips", "https://example.com/recipes/lasagna",
        "https://wiki.example.org/Eiffel_Tower"]
HOSTS = ["api.example.com", "db.internal.example.org", "mail.example.net"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella Labs", "Stark Industries"]
TICKERS = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOGL"]
SQL = ["SELECT region, SUM(total) AS revenue FROM orders GROUP BY region ORDER BY revenue DESC",
       "SELECT name, stock FROM products WHERE stock < 10",
       "SELECT COUNT(*) FROM customers WHERE created_at >= '2025-01-01'",
       "SELECT department, AVG(salary) FROM employees GROUP BY department",
       "SELECT id, status FROM shipments WHERE status = 'delayed' LIMIT 20"]
EXPRESSIONS = ["(12.5 * 4) + 3", "1250 * 0.18", "(48 + 52 + 61) / 3", "2 ** 10 - 24",
               "365 * 24", "1000 / 7", "19.99 * 3 + 4.5"]
NOTES = ["Bring the printed slides", "Confirm the room booking", "Ask about the parking pass",
         "Follow up next week", "Share the recording afterwards"]
TAGS = ["urgent", "personal", "work", "finance", "travel", "follow-up"]
COLORS = ["blue", "green", "orange", "purple", "teal"]
PRODUCTS = ["wireless headphones", "standing desk", "espresso machine", "running shoes",
            "mechanical keyboard"]
TABLES = ["orders", "customers", "products", "employees", "shipments"]
PHONES = ["+1 555 0142", "+44 20 7946 0958", "+33 1 23 45 67 89"]
IDS = ["evt_4821", "msg_93a1", "doc_1177", "ord_55012", "usr_2044"]
UNITS = ["km", "mi", "m", "ft"]
FILLER = ["weekly", "summary", "garden", "project", "budget", "morning", "update", "travel",
          "review", "plan", "notes", "draft"]
KEYS = ["priority", "owner", "region", "status", "team"]

# (words a parameter's name or description may contain, values to pick from); first match wins
TOPICS: list[tuple[tuple[str, ...], list[str]]] = [
    (("sql",), SQL),
    (("expression", "formula", "equation"), EXPRESSIONS),
    (("email", "recipient", "cc", "bcc"), EMAILS),
    (("subject",), SUBJECTS),
    (("body", "message"), BODIES),
    (("content", "contents"), FILE_CONTENTS),
    (("path", "file", "filename", "folder", "directory"), PATHS),
    (("url", "link", "website", "webpage", "uri"), URLS),
    (("city", "location", "place", "town", "destination", "origin"), CITIES),
    (("country",), COUNTRIES),
    (("timezone", "time zone", "tz"), TIMEZONES),
    (("currency",), CURRENCIES),
    (("language", "lang", "locale"), LANGUAGES),
    (("query", "search", "keyword", "keywords", "q", "topic"), QUERIES),
    (("title", "event", "summary"), TITLES),
    (("name", "person", "attendee", "contact", "user", "owner"), PEOPLE),
    (("company", "organization", "organisation", "vendor"), COMPANIES),
    (("symbol", "ticker", "stock"), TICKERS),
    (("phone", "mobile"), PHONES),
    (("table", "database", "db"), TABLES),
    (("product", "item"), PRODUCTS),
    (("note", "notes", "description", "comment", "reason"), NOTES),
    (("tag", "label", "category"), TAGS),
    (("color", "colour"), COLORS),
    (("unit",), UNITS),
    (("id", "identifier"), IDS),
    (("host", "hostname", "server"), HOSTS),
]

# (words, low, high) for numbers without a schema range
NUMBER_RANGES: list[tuple[tuple[str, ...], float, float]] = [
    (("limit", "max results", "results", "count", "top", "n", "num"), 1, 20),
    (("days",), 1, 14),
    (("hours",), 1, 12),
    (("minutes", "duration"), 15, 120),
    (("age",), 18, 90),
    (("year",), 2020, 2026),
    (("month",), 1, 12),
    (("precision", "decimals", "digits"), 0, 6),
    (("latitude", "lat"), -90, 90),
    (("longitude", "lon", "lng"), -180, 180),
    (("amount", "price", "cost", "total", "value", "budget"), 1, 500),
    (("weight",), 40, 120),
    (("height",), 1.5, 2.0),
    (("temperature", "temp"), -10, 35),
    (("percent", "percentage", "rate"), 0, 100),
    (("page",), 1, 10),
    (("rows",), 1, 100),
    (("quantity", "qty"), 1, 10),
    (("port",), 1024, 9000),
    (("chars", "characters", "length"), 500, 5000),
    (("radius", "distance"), 1, 50),
    (("humidity",), 20, 95),
]

# Requests no offered tool can serve: (user message, assistant reply without a call)
IRRELEVANT: list[tuple[str, str]] = [
    ("Can you write me a haiku about the first snow?",
     "Here's one:\nQuiet flakes settle,\nthe street forgets its footsteps,\n"
     "lamplight turns to lace."),
    ("What's a good name for a golden retriever puppy?",
     "A few ideas: Maple, Biscuit, Sunny or Juniper. Maple suits a golden coat especially well."),
    ("Tell me a joke about programmers.",
     "Why do programmers prefer dark mode? Because light attracts bugs."),
    ("How do I say 'thank you' in Japanese?",
     "You say \"arigatou\" (ありがとう); \"arigatou gozaimasu\" is the more polite form."),
    ("Book me a table for two at an Italian restaurant tonight.",
     "I can't make restaurant bookings with the tools I have here. A booking app or calling "
     "the restaurant directly would be the quickest way."),
    ("Order a large pepperoni pizza to my place.",
     "I don't have a way to place food orders. You could use the restaurant's website or a "
     "delivery app for that."),
    ("Can you explain the difference between weather and climate?",
     "Weather is what the atmosphere does over hours or days; climate is the long-term average "
     "of that weather over decades in a region."),
    ("Give me three tips for sleeping better.",
     "Keep a regular bedtime, avoid screens for the last half hour, and keep the bedroom cool "
     "and dark."),
    ("Translate 'good morning' into Spanish.",
     "\"Good morning\" in Spanish is \"buenos días\"."),
    ("Turn off the lights in the living room.",
     "I can't control smart-home devices with the tools available to me here."),
    ("What's the difference between a latte and a flat white?",
     "A flat white has less milk and a thinner layer of microfoam than a latte, so the coffee "
     "tastes stronger."),
    ("Suggest a name for my new sourdough starter.",
     "A few ideas: \"Clint Yeastwood\", \"Bread Pitt\" or, for something calmer, "
     "\"Doughlores\"."),
    ("Can you recommend a classic novel for a long flight?",
     "\"The Count of Monte Cristo\" is long, gripping and perfect for a flight; \"Pride and "
     "Prejudice\" is a lighter choice."),
    ("Play some relaxing music.",
     "I can't play audio with the tools I have. A music app with a \"calm\" or \"focus\" "
     "playlist would do the trick."),
    ("Why is the sky blue?",
     "Sunlight scatters off air molecules, and shorter blue wavelengths scatter much more than "
     "red ones, so blue light reaches your eyes from every direction."),
    ("Call my mom and tell her I'll be late.",
     "I can't make phone calls. You could send her a quick text, or I can help you word one."),
]
LEADS = ["", "Quick question: ", "Hey! ", "Random one, but "]

SYSTEM_PROMPTS = [
    "You are a helpful assistant with access to tools. Call a tool when it helps answer the "
    "user's request; otherwise answer directly.",
    "You are a concise, friendly assistant. Use the provided tools when they are needed and "
    "never invent tool results.",
    "You are an assistant that can call functions. Ask for missing details instead of guessing "
    "required values.",
]
