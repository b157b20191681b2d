"""Built-in name, place and authority lists for fake identities.

Common given names and surnames written in Latin letters, grouped by naming tradition (several
languages and transliterations from other scripts), with spaces, hyphens, apostrophes and
diacritics so that the MRZ transliteration gets exercised. Places and authorities are fictional or
generic.
"""

from __future__ import annotations

#: One entry per naming tradition: (female given names, male given names, surnames), "|"-separated.
NAME_GROUPS: tuple[tuple[str, str, str], ...] = (
    (
        "Anna|Maria|Elin|Ingrid|Åsa|Sofia|Karin|Linnéa|Märta|Sigrid|Ylva|Astrid",
        "Erik|Lars|Björn|Nils|Olof|Gustav|Jörgen|Håkan|Sven|Anders|Tor|Øystein",
        "Eriksson|Lindqvist|Åberg|Söderström|Nyström|Østergaard|Bjørnstad|Halvorsen|"
        "Sandberg|Lundgren|Þórsson|Guðmundsdóttir|Holm|Dahl",
    ),
    (
        "Anne-Marie|Élodie|Chloé|Margaux|Hélène|Françoise|Zoé|Inès|Maëlle|Céline|Béatrice",
        "Jean-Luc|François|Étienne|Loïc|Théo|Benoît|Jérôme|Noël|Gaël|Rémi|Hugo",
        "Dubois|Lefèvre|D'Arcy|Rousseau|Bézier|de la Fontaine|Mercier|Garnier|Faure|"
        "Chevalier|Le Gall|Saint-Amand|Moreau",
    ),
    (
        "Jürgen|Käthe|Lieselotte|Grete|Sünje|Brünhilde|Hanna|Lena|Leonie|Marlene",
        "Jörg|Günther|Klaus|Matthias|Sebastian|Lutz|Wolfgang|Rüdiger|Jürgen|Moritz",
        "Müller|Schröder|Weiß|Groß|Straßburger|von Hohenberg|Köhler|Bäcker|Schäfer|"
        "Zimmermann|Meyer-Lüdenscheid|van der Berg|de Vries|Jansen",
    ),
    (
        "Lucía|Ximena|Begoña|Inés|Mónica|Pilar|Valentina|Camila|Luz María|Renata",
        "José|Iñaki|Andrés|Joaquín|Martín|Sebastián|Rodrigo|Juan Pablo|Álvaro|Tomás",
        "García-Márquez|Núñez|Peña|de la Cruz|Ibáñez|Muñoz|López|Fernández|Del Río|"
        "Gonçalves|São Bento|Conceição|Araújo|Magalhães",
    ),
    (
        "Giulia|Chiara|Francesca|Ilaria|Noemi|Beatrice|Federica|Alessia",
        "Giuseppe|Niccolò|Luca|Matteo|Andrea|Pietro|Gianluca|Salvatore",
        "Rossi|D'Angelo|De Luca|Esposito|Colombo|Bianchi|Dell'Acqua|Lo Bianco|Ferrara",
    ),
    (
        "Zofia|Małgorzata|Agnieszka|Jitka|Šárka|Ivana|Dorota|Zuzana|Kateřina|Ágnes",
        "Łukasz|Wojciech|Grzegorz|Jiří|Tomáš|Ondřej|Dušan|Zoltán|Bálint|Miloš",
        "Łukasiewicz|Wiśniewski|Kowalczyk|Dvořák|Šťastný|Novák|Černý|Horváth|Kovačević|"
        "Szabó|Nagy|Petrović|Jovanović|Brzęczyszczykiewicz",
    ),
    (
        "Anastasia|Yekaterina|Olga|Tatiana|Natalia|Svetlana|Daria|Oksana|Yulia|Ksenia",
        "Aleksandr|Dmitry|Sergei|Mikhail|Yevgeny|Oleksandr|Vladimir|Nikolai|Andriy|Ilya",
        "Ivanova|Shcherbakov|Kuznetsov|Smirnova|Popov|Vasylenko|Shevchenko|Zhukov|Sokolova|"
        "Khvorostov|Yakovlev|Tkachenko|Bondarenko",
    ),
    (
        "Eleni|Sofia|Katerina|Despina|Athina|Zoe|Ariadni|Chrysoula",
        "Georgios|Dimitrios|Konstantinos|Nikolaos|Ioannis|Panagiotis|Christos|Vasileios",
        "Papadopoulos|Papadopoulou|Nikolaidis|Georgiou|Karagiannis|Antonopoulos|Oikonomou|"
        "Chatzidakis|Vlachos",
    ),
    (
        "Fatima|Aisha|Layla|Mariam|Nour|Yasmin|Zainab|Huda|Salma|Rania",
        "Mohammed|Ahmed|Omar|Youssef|Khalid|Abdul Rahman|Hassan|Karim|Tariq|Samir",
        "Al-Farsi|Al Hashimi|El-Sayed|Abdullah|Haddad|Ben Youssef|Bin Hamad|Nasser|"
        "Khoury|Mansour|Abu Bakr|El Amrani",
    ),
    (
        "Xiaoming|Mei|Jing|Li Na|Yan|Hui|Ying|Xiu Ying|Lan|Fang",
        "Wei|Jun|Hao|Zhiwei|Jian|Lei|Yong|Tao|Cheng|Guang",
        "Zhang|Wang|Li|Liu|Chen|Yang|Huang|Zhao|Wu|Zhou|Ouyang|Sima",
    ),
    (
        "Yuki|Haruka|Sakura|Aiko|Emi|Naomi|Ji-woo|Seo-yeon|Min-ji|Hye-jin",
        "Takeshi|Hiroshi|Kenji|Shōta|Yūsuke|Ryō|Min-jun|Ji-hoon|Seung-woo|Dong-hyun",
        "Takahashi|Watanabe|Itō|Saitō|Yamamoto|Kobayashi|Satō|Park|Kim|Lee|Choi|Jeong",
    ),
    (
        "Priya|Ananya|Lakshmi|Deepika|Kavya|Sita|Meera|Aishwarya",
        "Rahul|Arjun|Vikram|Sanjay|Rajesh|Anil|Venkatesh|Siddharth",
        "Sharma|Patel|Venkataraman|Iyer|Reddy|Chakraborty|Nair|Gupta|Subramanian|Banerjee",
    ),
    (
        "Ngozi|Amara|Chiamaka|Aminata|Wanjiru|Thandiwe|Nomvula|Adaeze|Fatou|Abena",
        "Chinedu|Oluwaseun|Kwame|Kofi|Mamadou|Thabo|Babajide|Emeka|Jomo|Sipho",
        "Okonkwo|N'Diaye|Diallo|Mensah|Adeyemi|Kamau|Nkosi|Okafor|Traoré|Mbatha|Eze",
    ),
    (
        "Siobhán|Aoife|Niamh|Ciara|Saoirse|Emily|Olivia|Charlotte|Grace|Mary Jane",
        "Seán|Pádraig|Cathal|Oisín|William|James|Oliver|Thomas|John Paul|Eoin",
        "O'Connor|O'Brien|McAllister|MacDonald|Smith-Jones|Fitzgerald|Ní Bhriain|Ó Súilleabháin|"
        "Williams|Thompson|St. John|Van Der Muellen",
    ),
    (
        "Noa|Tamar|Yael|Shira|Ayelet|Elif|Zeynep|Ayşe|Gül|Şule",
        "Yosef|Avraham|Itai|Eitan|Mehmet|Emre|Çağlar|Oğuz|Barış|Ümit",
        "Cohen|Levi|Mizrahi|Ben-David|Friedman|Yılmaz|Öztürk|Şahin|Çelik|Doğan|Aydın",
    ),
    (
        "Somchai|Malee|Anh|Linh|Thuy|Ngoc Anh|Siti|Dewi|Putri|Maria Clara",
        "Somsak|Nguyen Van|Minh|Duc|Quang|Budi|Agus|Rizal|Jose Rizal|Manuel",
        "Srisuk|Phongsavanh|Nguyễn|Trần|Lê|Phạm|Hoàng|Wijaya|Santoso|Dela Cruz|Bautista",
    ),
)

#: Nationality / issuing state codes: the ICAO specimen state "UTO" and a set of real codes
#: (Germany is "D", which the MRZ pads to "D<<").
STATE_CODES: tuple[str, ...] = (
    "UTO", "UTO", "UTO", "D", "FRA", "ITA", "ESP", "PRT", "NLD", "BEL", "CHE", "AUT", "SWE", "NOR",
    "FIN", "DNK", "ISL", "POL", "CZE", "HUN", "ROU", "GRC", "TUR", "ISR", "EGY", "MAR", "NGA",
    "KEN", "ZAF", "GHA", "SEN", "IND", "CHN", "JPN", "KOR", "THA", "VNM", "IDN", "PHL", "AUS",
    "NZL", "CAN", "USA", "MEX", "BRA", "ARG", "CHL", "RUS", "UKR", "GBR", "IRL", "SAU", "ARE",
)  # fmt: skip

#: Places of birth as printed.
PLACES: tuple[str, ...] = (
    "Utopia City", "Port Meridian", "Nordholm", "Ville-Étoile", "São Leão", "Sankt Wendelin",
    "Castelnuovo", "Kraków-Podgórze", "Ærøskøbing", "New Avalon", "Lake Tessaly", "Qasr al-Nur",
    "Riverside", "Mont-Sainte-Claire", "Zelená Hora", "Ōmura-shi", "Nueva Esperanza",
    "Kingsbridge", "L'Île-Blanche", "Dar es Salaam", "Bergen op Zoom", "Hafnarfjörður",
)  # fmt: skip

#: Issuing authorities as printed.
AUTHORITIES: tuple[str, ...] = (
    "Ministry of the Interior", "Passport Office", "Civil Registry", "Department of Home Affairs",
    "Bürgeramt", "Préfecture", "Registro Civil", "National Identity Bureau", "Consulate General",
    "Municipal Office", "State Police Directorate", "Office of Population Registration",
)  # fmt: skip
