class Shape:
    def __init__(self, name):
        self.name = name

    def area(self):
        raise NotImplementedError

    def describe(self):
        return "%s %.1f" % (self.name, self.area())


class Square(Shape):
    def __init__(self, side):
        super().__init__("square")
        self.side = side

    def area(self):
        return self.side * self.side

    @property
    def perimeter(self):
        return 4 * self.side

    @staticmethod
    def unit():
        return Square(1)

    @classmethod
    def of(cls, side):
        return cls(side)


shapes = [Square.of(i) for i in range(30)] + [Square.unit()]
print(sum(s.perimeter for s in shapes), [s.describe() for s in shapes][:2])
