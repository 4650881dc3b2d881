def main():
    print("not built yet")
